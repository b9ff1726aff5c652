package red5token

import "context"

// bearerCredentials adds "authorization: Bearer <key>" to each call's metadata. It requires
// transport security, so grpc-go refuses to send the key in cleartext.
type bearerCredentials struct {
	key string
}

func (b bearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b bearerCredentials) RequireTransportSecurity() bool {
	return true
}
