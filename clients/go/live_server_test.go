package red5token_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"connectrpc.com/connect"
	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1/tokenv1connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

// liveServer is a running TokenService that the interop tests call, with the credentials it
// signs with.
type liveServer struct {
	// address is host:port, served in cleartext with HTTP/2 prior knowledge (h2c).
	address            string
	conferenceSecret   string
	pubnubSubscribeKey string
	pubnubPublishKey   string
}

// requireLiveServer reads the live server's address and credentials from the environment. It
// skips the test when TOKEN_SERVICE_ADDRESS is unset, and fails it when the address is set but a
// credential is missing.
func requireLiveServer(t *testing.T) liveServer {
	t.Helper()
	address := os.Getenv("TOKEN_SERVICE_ADDRESS")
	if address == "" {
		t.Skip("interop test skipped: set TOKEN_SERVICE_ADDRESS to the host:port of a running token service " +
			"(cleartext h2c), and TOKEN_SERVICE_CONFERENCE_SECRET, TOKEN_SERVICE_PUBNUB_SUBSCRIBE_KEY and " +
			"TOKEN_SERVICE_PUBNUB_PUBLISH_KEY to the credentials it was started with")
	}

	server := liveServer{address: address}
	for _, setting := range []struct {
		name  string
		value *string
	}{
		{"TOKEN_SERVICE_CONFERENCE_SECRET", &server.conferenceSecret},
		{"TOKEN_SERVICE_PUBNUB_SUBSCRIBE_KEY", &server.pubnubSubscribeKey},
		{"TOKEN_SERVICE_PUBNUB_PUBLISH_KEY", &server.pubnubPublishKey},
	} {
		*setting.value = os.Getenv(setting.name)
		if *setting.value == "" {
			t.Fatalf("TOKEN_SERVICE_ADDRESS is set but %s is missing; set it to the credential the server at %s uses",
				setting.name, address)
		}
	}
	return server
}

// tokenCaller is one gRPC implementation calling the TokenService, so that each interop test
// runs with both generated clients.
type tokenCaller interface {
	issueConferenceToken(ctx context.Context, request *tokenv1.IssueConferenceTokenRequest) (*tokenv1.IssueConferenceTokenResponse, error)
	issueChatToken(ctx context.Context, request *tokenv1.IssueChatTokenRequest) (*tokenv1.IssueChatTokenResponse, error)
	// statusOf returns the gRPC code and the decoded field violations of an error the caller
	// returned.
	statusOf(t *testing.T, err error) (codes.Code, []red5token.FieldViolation)
}

// grpcGoCaller calls through the red5token client, over the grpc-go stub.
type grpcGoCaller struct {
	client *red5token.Client
}

func (c grpcGoCaller) issueConferenceToken(ctx context.Context, request *tokenv1.IssueConferenceTokenRequest) (*tokenv1.IssueConferenceTokenResponse, error) {
	return c.client.IssueConferenceToken(ctx, request)
}

func (c grpcGoCaller) issueChatToken(ctx context.Context, request *tokenv1.IssueChatTokenRequest) (*tokenv1.IssueChatTokenResponse, error) {
	return c.client.IssueChatToken(ctx, request)
}

func (grpcGoCaller) statusOf(t *testing.T, err error) (codes.Code, []red5token.FieldViolation) {
	t.Helper()
	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("error = %T (%v), want *red5token.Error", err, err)
	}
	return serviceErr.Code, serviceErr.FieldViolations
}

// connectGoCaller calls through connect-go's generated client with the gRPC protocol over h2c.
type connectGoCaller struct {
	client tokenv1connect.TokenServiceClient
}

func (c connectGoCaller) issueConferenceToken(ctx context.Context, request *tokenv1.IssueConferenceTokenRequest) (*tokenv1.IssueConferenceTokenResponse, error) {
	response, err := c.client.IssueConferenceToken(ctx, connect.NewRequest(request))
	if err != nil {
		return nil, err
	}
	return response.Msg, nil
}

func (c connectGoCaller) issueChatToken(ctx context.Context, request *tokenv1.IssueChatTokenRequest) (*tokenv1.IssueChatTokenResponse, error) {
	response, err := c.client.IssueChatToken(ctx, connect.NewRequest(request))
	if err != nil {
		return nil, err
	}
	return response.Msg, nil
}

func (connectGoCaller) statusOf(t *testing.T, err error) (codes.Code, []red5token.FieldViolation) {
	t.Helper()
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		t.Fatalf("error = %T (%v), want *connect.Error", err, err)
	}

	var violations []red5token.FieldViolation
	for _, detail := range connectErr.Details() {
		value, err := detail.Value()
		if err != nil {
			t.Fatalf("decode error detail %s: %v", detail.Type(), err)
		}
		badRequest, ok := value.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, violation := range badRequest.GetFieldViolations() {
			violations = append(violations, red5token.FieldViolation{
				Field:       violation.GetField(),
				Description: violation.GetDescription(),
				Reason:      violation.GetReason(),
			})
		}
	}
	// connect.Code numbers are the gRPC code numbers.
	return codes.Code(connectErr.Code()), violations
}

// newConnectH2CClient returns connect-go's client for the server, speaking the gRPC protocol over
// cleartext HTTP/2 with prior knowledge through net/http's own HTTP/2 support.
func newConnectH2CClient(t *testing.T, address string) tokenv1connect.TokenServiceClient {
	t.Helper()
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Protocols: protocols}
	t.Cleanup(transport.CloseIdleConnections)
	return tokenv1connect.NewTokenServiceClient(&http.Client{Transport: transport}, "http://"+address, connect.WithGRPC())
}

// forEachCaller runs test once with each generated gRPC client, as subtests named after it.
func forEachCaller(t *testing.T, server liveServer, test func(t *testing.T, caller tokenCaller)) {
	t.Run("grpc-go", func(t *testing.T) {
		test(t, grpcGoCaller{client: newInsecureClient(t, server.address)})
	})
	t.Run("connect-go", func(t *testing.T) {
		test(t, connectGoCaller{client: newConnectH2CClient(t, server.address)})
	})
}
