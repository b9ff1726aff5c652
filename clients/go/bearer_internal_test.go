package red5token

import (
	"fmt"
	"strings"
	"testing"
)

func TestBearerCredentialsFormatRedacted(t *testing.T) {
	const key = "secret-key-1"
	credentials := newBearerCredentials(key)
	for _, value := range []any{credentials, &credentials} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			formatted := fmt.Sprintf(verb, value)
			if strings.Contains(formatted, key) || strings.Contains(formatted, fmt.Sprintf("%x", key)) {
				t.Errorf("fmt.Sprintf(%q, %T) = %q, want it without the key", verb, value, formatted)
			}
			if !strings.Contains(formatted, "REDACTED") {
				t.Errorf("fmt.Sprintf(%q, %T) = %q, want it to say REDACTED", verb, value, formatted)
			}
		}
	}
}
