package red5token

import (
	"context"
	"fmt"
	"io"
)

// redactedBearerCredentials is the text that bearerCredentials formats as with every fmt verb.
const redactedBearerCredentials = "red5token.bearerCredentials{key: REDACTED}"

// bearerCredentials adds "authorization: Bearer <key>" to each call's metadata. It requires
// transport security, so grpc-go refuses to send the key in cleartext.
//
// It formats as redactedBearerCredentials with every fmt verb. fmt does not call the Format
// method of a value held in an unexported field, such as the Client's call options, and prints
// such a value field by field, also for a bad verb such as %s on a struct. The key is therefore
// held in a closure, which fmt prints as an address.
type bearerCredentials struct {
	key func() string
}

func newBearerCredentials(key string) bearerCredentials {
	return bearerCredentials{key: func() string { return key }}
}

func (b bearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key()}, nil
}

func (b bearerCredentials) RequireTransportSecurity() bool {
	return true
}

// Format writes redactedBearerCredentials in place of the key, whatever the verb.
func (b bearerCredentials) Format(state fmt.State, _ rune) {
	_, _ = io.WriteString(state, redactedBearerCredentials)
}

// checkBearerKey returns an error unless every byte of key is visible ASCII (0x21 to 0x7E), the
// rule of the Java client. A header value cannot carry control characters, and grpc-go fails the
// call with INTERNAL on a value that is not printable ASCII. The error gives the offset of the
// first invalid byte but no byte of the key.
func checkBearerKey(key string) error {
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("red5token: WithBearerKey: invalid key: byte %d is not a visible ASCII character (0x21 to 0x7E); pass the key alone, without \"Bearer \", spaces or line breaks", i)
		}
	}
	return nil
}
