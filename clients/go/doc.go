// Package red5token is a Go client for the red5-token-service TokenService, which mints Red5
// conference tokens and PubNub chat tokens.
//
// It is a thin layer over the grpc-go stub in
// github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1. Code written against
// Red5's backend SDKs moves to it by changing how the client is built: GetConferenceToken and
// GetChatToken take the same arguments as Red5's getConferenceToken and getChatToken and return
// the token string. IssueConferenceToken and IssueChatToken return the whole response, with the
// token's issue and expiry times and the chat permissions granted.
//
//	client, err := red5token.New("127.0.0.1:8080", red5token.WithInsecure())
//	if err != nil {
//		return err
//	}
//	defer client.Close()
//	token, err := client.GetConferenceToken(ctx, "user-1", "room-1", "publisher", 60)
//
// Every call has a deadline. A context without one gets DefaultTimeout, 10 seconds, which
// WithTimeout changes, and a call that gets no response by then fails with an *Error whose Code is
// DEADLINE_EXCEEDED. WithTimeout accepts at most MaxTimeout (2^31-1 ms), because the service
// rejects longer deadlines.
//
// Errors from the service are *Error values, which keep the gRPC code, the message and the field
// violations of INVALID_ARGUMENT. Arguments that a request cannot carry, such as an unknown role
// or an id that is not valid UTF-8, are rejected before any request is sent, with an *ArgumentError.
//
// NOTE: neither this module nor the generated module gen/go is published yet. This module's
// go.mod replaces gen/go with ../../gen/go, and a replace directive applies only to the main
// module, so a program that uses this package needs replace directives for both modules, such
// as the ones in examples/go/go.mod.
package red5token
