package red5token

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc"
)

// errEmptyToken reports a response without a token, which the service never sends on success.
var errEmptyToken = errors.New("red5token: the service returned an empty token")

// GetConferenceToken issues a Red5 conference token, an HS256 JWT, and returns it, like
// getConferenceToken in Red5's SDKs. role is "admin", "publisher" or "subscriber", and
// expirationMinutes is the token's lifetime, from 1 to 43200 and at most the service's
// TOKEN_MAX_MINUTES. Red5's SDKs have no "absent" value, so 0 is sent as given and the service
// rejects it.
//
// An id that is not valid UTF-8, an unknown role, or a number of minutes outside the uint32 range
// returns an *ArgumentError without sending a request.
// Errors from the service are *Error values.
func (c *Client) GetConferenceToken(ctx context.Context, userID, roomID, role string, expirationMinutes int) (string, error) {
	if err := checkUTF8("userID", userID); err != nil {
		return "", err
	}
	if err := checkUTF8("roomID", roomID); err != nil {
		return "", err
	}
	parsedRole, err := ParseRole(role)
	if err != nil {
		return "", err
	}
	minutes, err := minutesToUint32("expirationMinutes", expirationMinutes)
	if err != nil {
		return "", err
	}

	response, err := c.IssueConferenceToken(ctx, &tokenv1.IssueConferenceTokenRequest{
		UserId:            userID,
		RoomId:            roomID,
		Role:              parsedRole,
		ExpirationMinutes: &minutes,
	})
	if err != nil {
		return "", err
	}
	return nonEmptyToken(response.GetToken())
}

// GetChatToken issues a PubNub Access Manager v3 token for channelID and its presence channel
// (channelID + "-pnpres") and returns it, like getChatToken in Red5's SDKs. At least one of read
// and write must be true. ttlMinutes is the token's lifetime, from 1 to 43200 and at most the
// service's TOKEN_MAX_MINUTES; 0 is sent as given and the service rejects it.
//
// An id that is not valid UTF-8, or a ttlMinutes outside the uint32 range, returns an
// *ArgumentError without sending a request.
// Errors from the service are *Error values.
func (c *Client) GetChatToken(ctx context.Context, userID, channelID string, read, write bool, ttlMinutes int) (string, error) {
	if err := checkUTF8("userID", userID); err != nil {
		return "", err
	}
	if err := checkUTF8("channelID", channelID); err != nil {
		return "", err
	}
	minutes, err := minutesToUint32("ttlMinutes", ttlMinutes)
	if err != nil {
		return "", err
	}

	response, err := c.IssueChatToken(ctx, &tokenv1.IssueChatTokenRequest{
		UserId:     userID,
		ChannelId:  channelID,
		Read:       read,
		Write:      write,
		TtlMinutes: &minutes,
	})
	if err != nil {
		return "", err
	}
	return nonEmptyToken(response.GetToken())
}

// IssueConferenceToken sends request as it is and returns the whole response: the token, its
// issue and expiry times, the role and the chat permissions granted. Leaving
// request.ExpirationMinutes nil gets the service's default of 60 minutes. Errors from the
// service are *Error values.
func (c *Client) IssueConferenceToken(ctx context.Context, request *tokenv1.IssueConferenceTokenRequest, opts ...grpc.CallOption) (*tokenv1.IssueConferenceTokenResponse, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	response, err := c.stub.IssueConferenceToken(ctx, request, c.withCallOptions(opts)...)
	if err != nil {
		return nil, FromError(err)
	}
	return response, nil
}

// IssueChatToken sends request as it is and returns the whole response: the token, its issue and
// expiry times and the permissions granted on the channel and its presence channel. Leaving
// request.TtlMinutes nil gets the service's default of 60 minutes. Errors from the service
// are *Error values.
func (c *Client) IssueChatToken(ctx context.Context, request *tokenv1.IssueChatTokenRequest, opts ...grpc.CallOption) (*tokenv1.IssueChatTokenResponse, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	response, err := c.stub.IssueChatToken(ctx, request, c.withCallOptions(opts)...)
	if err != nil {
		return nil, FromError(err)
	}
	return response, nil
}

// withTimeout returns ctx with the client's timeout as its deadline, unless ctx has a deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// withCallOptions adds the client's own call options, such as the bearer key, to the caller's.
func (c *Client) withCallOptions(opts []grpc.CallOption) []grpc.CallOption {
	if len(c.callOpts) == 0 {
		return opts
	}
	all := make([]grpc.CallOption, 0, len(c.callOpts)+len(opts))
	all = append(all, c.callOpts...)
	return append(all, opts...)
}

// checkUTF8 returns an *ArgumentError for an id that is not valid UTF-8, which a proto3 string
// field cannot carry: grpc-go would fail the call with INTERNAL when it marshals the request.
func checkUTF8(argument, id string) error {
	if utf8.ValidString(id) {
		return nil
	}
	return &ArgumentError{
		Argument: argument,
		Value:    strconv.Quote(id),
		Reason:   "must be valid UTF-8",
	}
}

func nonEmptyToken(token string) (string, error) {
	if token == "" {
		return "", errEmptyToken
	}
	return token, nil
}
