package red5token_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc/codes"
)

// stalledTokenService is a TokenService that never responds. Each call sends its deadline, or the
// zero time when it has none, on deadlines and then waits until the client ends the call.
type stalledTokenService struct {
	tokenv1.UnimplementedTokenServiceServer

	deadlines chan time.Time
}

func newStalledTokenService() *stalledTokenService {
	return &stalledTokenService{deadlines: make(chan time.Time, 10)}
}

func (s *stalledTokenService) IssueConferenceToken(ctx context.Context, _ *tokenv1.IssueConferenceTokenRequest) (*tokenv1.IssueConferenceTokenResponse, error) {
	return nil, s.stall(ctx)
}

func (s *stalledTokenService) IssueChatToken(ctx context.Context, _ *tokenv1.IssueChatTokenRequest) (*tokenv1.IssueChatTokenResponse, error) {
	return nil, s.stall(ctx)
}

func (s *stalledTokenService) stall(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	s.deadlines <- deadline
	<-ctx.Done()
	return ctx.Err()
}

// newStalledClient serves a stalledTokenService on loopback and returns a cleartext client for it
// with options added, closed when the test ends.
func newStalledClient(t *testing.T, options ...red5token.Option) (*red5token.Client, *stalledTokenService) {
	t.Helper()
	service := newStalledTokenService()
	address := startFakeService(t, service, nil)
	client, err := red5token.New(address, append([]red5token.Option{red5token.WithInsecure()}, options...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, service
}

func TestTimeoutEndsStalledCall(t *testing.T) {
	client, _ := newStalledClient(t, red5token.WithTimeout(300*time.Millisecond))

	cases := []struct {
		name string
		call func(context.Context) error
	}{
		{"GetConferenceToken", func(ctx context.Context) error {
			_, err := client.GetConferenceToken(ctx, "user-1", "room-1", "publisher", 60)
			return err
		}},
		{"GetChatToken", func(ctx context.Context) error {
			_, err := client.GetChatToken(ctx, "user-1", "room-1", true, true, 60)
			return err
		}},
		{"IssueConferenceToken", func(ctx context.Context) error {
			_, err := client.IssueConferenceToken(ctx, &tokenv1.IssueConferenceTokenRequest{UserId: "user-1", RoomId: "room-1"})
			return err
		}},
		{"IssueChatToken", func(ctx context.Context) error {
			_, err := client.IssueChatToken(ctx, &tokenv1.IssueChatTokenRequest{UserId: "user-1", ChannelId: "room-1", Read: true})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// t.Context has no deadline, so only the client's timeout can end the call.
			started := time.Now()
			err := tc.call(t.Context())
			elapsed := time.Since(started)

			var serviceErr *red5token.Error
			if !errors.As(err, &serviceErr) {
				t.Fatalf("error = %T (%v), want *red5token.Error", err, err)
			}
			if serviceErr.Code != codes.DeadlineExceeded {
				t.Errorf("Code = %v, want DeadlineExceeded", serviceErr.Code)
			}
			if elapsed > 5*time.Second {
				t.Errorf("call took %v, want about 300ms", elapsed)
			}
		})
	}
}

func TestDefaultTimeoutSentAsDeadline(t *testing.T) {
	client, service := newStalledClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	deadlines := make(chan time.Time, 1)
	go func() {
		deadline := <-service.deadlines
		cancel()
		deadlines <- deadline
	}()
	started := time.Now()
	_, err := client.GetChatToken(ctx, "user-1", "room-1", true, true, 60)

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) || serviceErr.Code != codes.Canceled {
		t.Fatalf("error = %v, want *red5token.Error with Canceled", err)
	}
	received := <-deadlines
	if received.IsZero() {
		t.Fatal("service received no deadline")
	}
	// The service computes its deadline from the grpc-timeout header when the request arrives, so
	// it can be a little later than the client's.
	remaining := received.Sub(started)
	if remaining > red5token.DefaultTimeout+time.Second || remaining < red5token.DefaultTimeout-5*time.Second {
		t.Errorf("deadline = %v after the call started, want about %v", remaining, red5token.DefaultTimeout)
	}
}

func TestTimeoutKeepsCallersDeadline(t *testing.T) {
	client, service := newStalledClient(t, red5token.WithTimeout(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	callerDeadline, _ := ctx.Deadline()

	deadlines := make(chan time.Time, 1)
	go func() {
		deadline := <-service.deadlines
		cancel()
		deadlines <- deadline
	}()
	_, err := client.GetChatToken(ctx, "user-1", "room-1", true, true, 60)

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) || serviceErr.Code != codes.Canceled {
		t.Fatalf("error = %v, want *red5token.Error with Canceled", err)
	}
	received := <-deadlines
	if difference := received.Sub(callerDeadline).Abs(); difference > time.Second {
		t.Errorf("service received deadline %v, want the caller's %v", received, callerDeadline)
	}
}

func TestNewRejectsTimeoutOutOfRange(t *testing.T) {
	for _, timeout := range []time.Duration{0, -time.Second, (math.MaxInt32 + 1) * time.Millisecond, math.MaxInt64} {
		client, err := red5token.New("127.0.0.1:8080", red5token.WithInsecure(), red5token.WithTimeout(timeout))
		if err == nil {
			_ = client.Close()
			t.Errorf("WithTimeout(%v): New returned no error", timeout)
			continue
		}
		if !strings.Contains(err.Error(), "WithTimeout") {
			t.Errorf("WithTimeout(%v): error = %q, want it to name WithTimeout", timeout, err.Error())
		}
	}
}

func TestNewAcceptsMaxTimeout(t *testing.T) {
	client, err := red5token.New("127.0.0.1:8080", red5token.WithInsecure(), red5token.WithTimeout(math.MaxInt32*time.Millisecond))
	if err != nil {
		t.Fatalf("New with WithTimeout(2^31-1 ms): %v", err)
	}
	_ = client.Close()
}
