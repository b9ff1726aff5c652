package red5token_test

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// callContext returns a context that ends with the test or after 10 seconds.
func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newInsecureClient returns a cleartext client for address that is closed when the test ends.
func newInsecureClient(t *testing.T, address string) *red5token.Client {
	t.Helper()
	client, err := red5token.New(address, red5token.WithInsecure())
	if err != nil {
		t.Fatalf("New(%q, WithInsecure()): %v", address, err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestNewRejectsConflictingOptions(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	cases := []struct {
		name        string
		target      string
		options     []red5token.Option
		wantMessage string
	}{
		{"empty target", "", nil, "empty target"},
		{"TLS and insecure", "127.0.0.1:8080", []red5token.Option{red5token.WithTLS(nil), red5token.WithInsecure()}, "WithTLS and WithInsecure are both given"},
		{"bearer key in cleartext", "127.0.0.1:8080", []red5token.Option{red5token.WithInsecure(), red5token.WithBearerKey("key-1")}, "WithBearerKey needs TLS"},
		{"target with conn", "127.0.0.1:8080", []red5token.Option{red5token.WithConn(conn)}, "given together with WithConn"},
		{"insecure with conn", "", []red5token.Option{red5token.WithConn(conn), red5token.WithInsecure()}, "WithTLS or WithInsecure given together with WithConn"},
		{"TLS with conn", "", []red5token.Option{red5token.WithConn(conn), red5token.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13})}, "WithTLS or WithInsecure given together with WithConn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, err := red5token.New(tc.target, tc.options...)
			if err == nil {
				_ = client.Close()
				t.Fatal("New returned no error")
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("New error = %q, want it to contain %q", err.Error(), tc.wantMessage)
			}
		})
	}
}

func TestGetConferenceTokenSendsRequest(t *testing.T) {
	service := &fakeTokenService{token: "conference-token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	token, err := client.GetConferenceToken(callContext(t), "user-1", "room-1", "subscriber", 15)
	if err != nil {
		t.Fatalf("GetConferenceToken: %v", err)
	}

	if token != "conference-token" {
		t.Errorf("token = %q, want conference-token", token)
	}
	want := &tokenv1.IssueConferenceTokenRequest{
		UserId:            "user-1",
		RoomId:            "room-1",
		Role:              tokenv1.Role_ROLE_SUBSCRIBER,
		ExpirationMinutes: proto.Uint32(15),
	}
	if len(service.conferenceRequests) != 1 {
		t.Fatalf("service received %d conference requests, want 1", len(service.conferenceRequests))
	}
	if got := service.conferenceRequests[0]; !proto.Equal(got, want) {
		t.Errorf("request = %v, want %v", got, want)
	}
}

func TestGetChatTokenSendsRequest(t *testing.T) {
	service := &fakeTokenService{token: "chat-token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	token, err := client.GetChatToken(callContext(t), "user-1", "room-1", false, true, 30)
	if err != nil {
		t.Fatalf("GetChatToken: %v", err)
	}

	if token != "chat-token" {
		t.Errorf("token = %q, want chat-token", token)
	}
	want := &tokenv1.IssueChatTokenRequest{
		UserId:     "user-1",
		ChannelId:  "room-1",
		Read:       false,
		Write:      true,
		TtlMinutes: proto.Uint32(30),
	}
	if len(service.chatRequests) != 1 {
		t.Fatalf("service received %d chat requests, want 1", len(service.chatRequests))
	}
	if got := service.chatRequests[0]; !proto.Equal(got, want) {
		t.Errorf("request = %v, want %v", got, want)
	}
}

func TestGetConferenceTokenSendsZeroMinutes(t *testing.T) {
	service := &fakeTokenService{token: "conference-token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	if _, err := client.GetConferenceToken(callContext(t), "user-1", "room-1", "admin", 0); err != nil {
		t.Fatalf("GetConferenceToken: %v", err)
	}

	if len(service.conferenceRequests) != 1 {
		t.Fatalf("service received %d conference requests, want 1", len(service.conferenceRequests))
	}
	minutes := service.conferenceRequests[0].ExpirationMinutes
	if minutes == nil || *minutes != 0 {
		t.Errorf("expiration_minutes = %v, want present and 0", minutes)
	}
}

func TestClientRejectsRoleBeforeSending(t *testing.T) {
	service := &fakeTokenService{token: "conference-token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	for _, role := range []string{"", "Publisher", "owner", "ROLE_SUBSCRIBER"} {
		token, err := client.GetConferenceToken(callContext(t), "user-1", "room-1", role, 60)

		var argumentErr *red5token.ArgumentError
		if !errors.As(err, &argumentErr) {
			t.Errorf("role %q: error = %v, want *ArgumentError", role, err)
			continue
		}
		if argumentErr.Argument != "role" {
			t.Errorf("role %q: Argument = %q, want role", role, argumentErr.Argument)
		}
		if token != "" {
			t.Errorf("role %q: token = %q, want empty", role, token)
		}
	}
	if got := service.callCount(); got != 0 {
		t.Errorf("service received %d calls, want 0", got)
	}
}

func TestClientRejectsMinutesOutOfRange(t *testing.T) {
	service := &fakeTokenService{token: "token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))
	ctx := callContext(t)

	cases := []struct {
		name         string
		call         func() (string, error)
		wantArgument string
		wantValue    string
	}{
		{"negative expiration", func() (string, error) {
			return client.GetConferenceToken(ctx, "user-1", "room-1", "admin", -1)
		}, "expirationMinutes", "-1"},
		{"expiration over uint32", func() (string, error) {
			return client.GetConferenceToken(ctx, "user-1", "room-1", "admin", math.MaxUint32+1)
		}, "expirationMinutes", "4294967296"},
		{"negative ttl", func() (string, error) {
			return client.GetChatToken(ctx, "user-1", "room-1", true, true, -60)
		}, "ttlMinutes", "-60"},
	}
	for _, tc := range cases {
		_, err := tc.call()
		var argumentErr *red5token.ArgumentError
		if !errors.As(err, &argumentErr) {
			t.Errorf("%s: error = %v, want *ArgumentError", tc.name, err)
			continue
		}
		if argumentErr.Argument != tc.wantArgument {
			t.Errorf("%s: Argument = %q, want %q", tc.name, argumentErr.Argument, tc.wantArgument)
		}
		if argumentErr.Value != tc.wantValue {
			t.Errorf("%s: Value = %q, want %q", tc.name, argumentErr.Value, tc.wantValue)
		}
	}
	if got := service.callCount(); got != 0 {
		t.Errorf("service received %d calls, want 0", got)
	}
}

func TestClientConvertsServiceStatus(t *testing.T) {
	service := &fakeTokenService{err: invalidRoomAndRole(t).Err()}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	_, err := client.IssueConferenceToken(callContext(t), &tokenv1.IssueConferenceTokenRequest{UserId: "user-1", RoomId: "a b"})

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("error = %T (%v), want *red5token.Error", err, err)
	}
	if serviceErr.Code != codes.InvalidArgument {
		t.Errorf("Code = %v, want InvalidArgument", serviceErr.Code)
	}
	if !reflect.DeepEqual(serviceErr.FieldViolations, invalidRoomAndRoleViolations) {
		t.Errorf("FieldViolations = %+v, want %+v", serviceErr.FieldViolations, invalidRoomAndRoleViolations)
	}
}

func TestClientRejectsEmptyToken(t *testing.T) {
	service := &fakeTokenService{token: ""}
	client := newInsecureClient(t, startFakeService(t, service, nil))

	token, err := client.GetChatToken(callContext(t), "user-1", "room-1", true, false, 60)

	if err == nil {
		t.Fatalf("GetChatToken returned token %q and no error, want an error", token)
	}
	if !strings.Contains(err.Error(), "empty token") {
		t.Errorf("error = %q, want it to mention the empty token", err.Error())
	}
}

func TestBearerKeySentOverTLS(t *testing.T) {
	serverConfig, roots := newLoopbackCertificate(t)
	service := &fakeTokenService{token: "chat-token"}
	address := startFakeService(t, service, serverConfig)

	client, err := red5token.New(address,
		red5token.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		red5token.WithBearerKey("key-1"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })

	if _, err := client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60); err != nil {
		t.Fatalf("GetChatToken: %v", err)
	}

	want := [][]string{{"Bearer key-1"}}
	if !reflect.DeepEqual(service.authorizationValues, want) {
		t.Errorf("authorization metadata = %q, want %q", service.authorizationValues, want)
	}
}

func TestNoAuthorizationWithoutBearerKey(t *testing.T) {
	cases := []struct {
		name    string
		options []red5token.Option
	}{
		{"no key", []red5token.Option{red5token.WithInsecure()}},
		{"empty key", []red5token.Option{red5token.WithInsecure(), red5token.WithBearerKey("")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			service := &fakeTokenService{token: "chat-token"}
			client, err := red5token.New(startFakeService(t, service, nil), tc.options...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = client.Close() })

			if _, err := client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60); err != nil {
				t.Fatalf("GetChatToken: %v", err)
			}

			want := [][]string{nil}
			if !reflect.DeepEqual(service.authorizationValues, want) {
				t.Errorf("authorization metadata = %q, want none", service.authorizationValues)
			}
		})
	}
}

func TestTLSRejectsUntrustedServer(t *testing.T) {
	serverConfig, _ := newLoopbackCertificate(t)
	service := &fakeTokenService{token: "chat-token"}
	address := startFakeService(t, service, serverConfig)

	cases := []struct {
		name    string
		options []red5token.Option
	}{
		{"default transport", nil},
		{"WithTLS(nil)", []red5token.Option{red5token.WithTLS(nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, err := red5token.New(address, tc.options...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = client.Close() })

			_, err = client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60)

			if got := status.Code(err); got != codes.Unavailable {
				t.Errorf("status code = %v (%v), want Unavailable", got, err)
			}
			if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
				t.Errorf("error = %v, want a TLS handshake failure on the self-signed certificate", err)
			}
		})
	}
	if got := service.callCount(); got != 0 {
		t.Errorf("service received %d calls, want 0", got)
	}
}

func TestBearerKeyWithheldOnCleartextConn(t *testing.T) {
	service := &fakeTokenService{token: "chat-token"}
	address := startFakeService(t, service, nil)
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client, err := red5token.New("", red5token.WithConn(conn), red5token.WithBearerKey("key-1"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	_, err = client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60)

	if got := status.Code(err); got != codes.Unauthenticated {
		t.Errorf("status code = %v (%v), want Unauthenticated", got, err)
	}
	if got := service.callCount(); got != 0 {
		t.Errorf("service received %d calls, want 0", got)
	}
}

func TestCloseLeavesPassedConnOpen(t *testing.T) {
	service := &fakeTokenService{token: "chat-token"}
	address := startFakeService(t, service, nil)
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client, err := red5token.New("", red5token.WithConn(conn))
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if state := conn.GetState(); state == connectivity.Shutdown {
		t.Fatal("Close shut down the connection passed with WithConn")
	}
	if _, err := client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60); err != nil {
		t.Errorf("GetChatToken after Close: %v", err)
	}
}

func TestCloseShutsDownOwnConn(t *testing.T) {
	service := &fakeTokenService{token: "chat-token"}
	client, err := red5token.New(startFakeService(t, service, nil), red5token.WithInsecure())
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	_, err = client.GetChatToken(callContext(t), "user-1", "room-1", true, true, 60)
	if got := status.Code(err); got != codes.Canceled {
		t.Errorf("status code after Close = %v (%v), want Canceled", got, err)
	}
}

func TestClientRejectsInvalidUTF8IDs(t *testing.T) {
	service := &fakeTokenService{token: "token"}
	client := newInsecureClient(t, startFakeService(t, service, nil))
	ctx := callContext(t)
	const invalid = "id-\xff"

	cases := []struct {
		name         string
		call         func() (string, error)
		wantArgument string
	}{
		{"conference userID", func() (string, error) {
			return client.GetConferenceToken(ctx, invalid, "room-1", "admin", 60)
		}, "userID"},
		{"conference roomID", func() (string, error) {
			return client.GetConferenceToken(ctx, "user-1", invalid, "admin", 60)
		}, "roomID"},
		{"chat userID", func() (string, error) {
			return client.GetChatToken(ctx, invalid, "room-1", true, true, 60)
		}, "userID"},
		{"chat channelID", func() (string, error) {
			return client.GetChatToken(ctx, "user-1", invalid, true, true, 60)
		}, "channelID"},
	}
	for _, tc := range cases {
		_, err := tc.call()
		var argumentErr *red5token.ArgumentError
		if !errors.As(err, &argumentErr) {
			t.Errorf("%s: error = %v, want *ArgumentError", tc.name, err)
			continue
		}
		if argumentErr.Argument != tc.wantArgument {
			t.Errorf("%s: Argument = %q, want %q", tc.name, argumentErr.Argument, tc.wantArgument)
		}
		if argumentErr.Value != `"id-\xff"` {
			t.Errorf("%s: Value = %q, want the quoted id", tc.name, argumentErr.Value)
		}
		if !strings.Contains(argumentErr.Reason, "UTF-8") {
			t.Errorf("%s: Reason = %q, want it to mention UTF-8", tc.name, argumentErr.Reason)
		}
	}
	if got := service.callCount(); got != 0 {
		t.Errorf("service received %d calls, want 0", got)
	}
}
