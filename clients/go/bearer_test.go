package red5token_test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
)

func TestBearerKeyHiddenFromFormatting(t *testing.T) {
	const key = "secret-key-1"
	option := red5token.WithBearerKey(key)
	client, err := red5token.New("127.0.0.1:8080", red5token.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), option)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })

	values := []struct {
		name  string
		value any
	}{
		{"*Client", client},
		{"Client", *client},
		{"Option", option},
	}
	for _, value := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			formatted := fmt.Sprintf(verb, value.value)
			if strings.Contains(formatted, key) || strings.Contains(formatted, fmt.Sprintf("%x", key)) {
				t.Errorf("fmt.Sprintf(%q, %s) = %q, want it without the bearer key", verb, value.name, formatted)
			}
		}
	}
}

func TestNewRejectsInvalidBearerKey(t *testing.T) {
	cases := []struct {
		name string
		key  string
	}{
		{"CR LF", "secret-key-1\r\nx-injected: 1"},
		{"LF", "secret-key-1\n"},
		{"NUL", "secret-key-1\x00"},
		{"tab", "secret-key-1\tend"},
		{"DEL", "secret-key-1\x7f"},
		{"space", "secret-key-1 end"},
		{"with Bearer prefix", "Bearer secret-key-1"},
		{"non-ASCII", "secret-key-1-ключ"},
		{"invalid UTF-8", "secret-key-1\xff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, err := red5token.New("127.0.0.1:8080", red5token.WithTLS(nil), red5token.WithBearerKey(tc.key))
			if err == nil {
				_ = client.Close()
				t.Fatal("New returned no error")
			}
			if strings.Contains(err.Error(), "secret-key-1") {
				t.Errorf("New error = %q, want it without the bearer key", err.Error())
			}
			if !strings.Contains(err.Error(), "WithBearerKey") {
				t.Errorf("New error = %q, want it to name WithBearerKey", err.Error())
			}
		})
	}
}

func TestNewAcceptsVisibleASCIIBearerKey(t *testing.T) {
	key := "AZaz09-._~+/=!#$%&'*^`|" + `"(),:;<>?@[\]{}`
	client, err := red5token.New("127.0.0.1:8080", red5token.WithTLS(nil), red5token.WithBearerKey(key))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_ = client.Close()
}
