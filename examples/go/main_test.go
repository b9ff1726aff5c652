package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	"google.golang.org/grpc/codes"
)

// environment returns a getenv function that reads only values.
func environment(values map[string]string) func(string) string {
	return func(name string) string {
		return values[name]
	}
}

func TestParseSettingsAddress(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "127.0.0.1:8080"},
		{"environment", nil, map[string]string{"TOKEN_SERVICE_ADDRESS": "127.0.0.1:9090"}, "127.0.0.1:9090"},
		{"flag over environment", []string{"-address", "[::1]:7070"}, map[string]string{"TOKEN_SERVICE_ADDRESS": "127.0.0.1:9090"}, "[::1]:7070"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSettings(tc.args, environment(tc.env), io.Discard)
			if err != nil {
				t.Fatalf("parseSettings: %v", err)
			}
			if got.address != tc.want {
				t.Errorf("address = %q, want %q", got.address, tc.want)
			}
		})
	}
}

func TestParseSettingsRejectsArgument(t *testing.T) {
	_, err := parseSettings([]string{"user-1"}, environment(nil), io.Discard)
	if err == nil {
		t.Fatal("parseSettings accepted a positional argument")
	}
	if !strings.Contains(err.Error(), `unexpected argument "user-1"`) {
		t.Errorf("error = %q, want it to name the argument", err.Error())
	}
}

func TestRunRejectsUnknownRole(t *testing.T) {
	var stdout bytes.Buffer
	err := run(t.Context(), []string{"-role", "owner", "-address", "127.0.0.1:1"}, environment(nil), &stdout, io.Discard)

	var argumentErr *red5token.ArgumentError
	if !errors.As(err, &argumentErr) {
		t.Fatalf("run error = %v, want *red5token.ArgumentError", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("run wrote %q, want nothing", stdout.String())
	}
}

func TestRunRejectsMinutesOutOfRange(t *testing.T) {
	for _, minutes := range []string{"0", "-5", "43201"} {
		err := run(t.Context(), []string{"-minutes", minutes, "-address", "127.0.0.1:1"}, environment(nil), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("-minutes %s: run returned no error", minutes)
			continue
		}
		if !strings.Contains(err.Error(), "invalid -minutes "+minutes) {
			t.Errorf("-minutes %s: error = %q, want invalid -minutes %s", minutes, err.Error(), minutes)
		}
	}
}

func TestRunReportsUnreachableService(t *testing.T) {
	// Port 1 on loopback has no listener, so the connection is refused at once.
	err := run(t.Context(), []string{"-address", "127.0.0.1:1"}, environment(nil), io.Discard, io.Discard)

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("run error = %v, want a *red5token.Error", err)
	}
	if serviceErr.Code != codes.Unavailable {
		t.Errorf("code = %v, want Unavailable", serviceErr.Code)
	}
	if !strings.HasPrefix(err.Error(), "issue conference token: ") {
		t.Errorf("error = %q, want it to name the step", err.Error())
	}
}

var (
	conferenceLine = regexp.MustCompile(`^conference token (\S*)\.\.\. for user-7 in room-7 as subscriber, expires (\S+)$`)
	chatLine       = regexp.MustCompile(`^chat token (\S*)\.\.\. for user-7 on room-7, read and write, expires (\S+)$`)
)

func TestRunAgainstLiveService(t *testing.T) {
	address := os.Getenv("TOKEN_SERVICE_ADDRESS")
	if address == "" {
		t.Skip("live test skipped: set TOKEN_SERVICE_ADDRESS to the host:port of a running token service (cleartext h2c)")
	}

	var stdout bytes.Buffer
	started := time.Now()
	err := run(t.Context(), []string{"-user", "user-7", "-room", "room-7", "-role", "subscriber", "-minutes", "30"},
		environment(map[string]string{"TOKEN_SERVICE_ADDRESS": address}), &stdout, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("output has %d lines, want 2:\n%s", len(lines), stdout.String())
	}
	for i, pattern := range []*regexp.Regexp{conferenceLine, chatLine} {
		match := pattern.FindStringSubmatch(lines[i])
		if match == nil {
			t.Errorf("line %d = %q, want it to match %s", i+1, lines[i], pattern)
			continue
		}
		if got := len(match[1]); got == 0 || got > tokenPrefixLength {
			t.Errorf("line %d prints %d characters of the token, want 1 to %d", i+1, got, tokenPrefixLength)
		}
		expires, err := time.Parse(time.RFC3339, match[2])
		if err != nil {
			t.Errorf("line %d expiry %q is not RFC 3339: %v", i+1, match[2], err)
			continue
		}
		if offset := expires.Sub(started.Add(30 * time.Minute)); offset < -10*time.Second || offset > 10*time.Second {
			t.Errorf("line %d expiry = %s, %s from 30 minutes after the start; want within 10s", i+1, match[2], offset)
		}
	}
}
