package red5token_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// The tests in this file call the live server that requireLiveServer finds in the environment.

func TestInteropConferenceToken(t *testing.T) {
	server := requireLiveServer(t)
	forEachCaller(t, server, func(t *testing.T, caller tokenCaller) {
		response, err := caller.issueConferenceToken(callContext(t), &tokenv1.IssueConferenceTokenRequest{
			UserId:            "user-1",
			RoomId:            "room-1",
			Role:              tokenv1.Role_ROLE_PUBLISHER,
			ExpirationMinutes: proto.Uint32(90),
		})
		if err != nil {
			t.Fatalf("IssueConferenceToken: %v", err)
		}

		verified := verifyConferenceToken(t, server, response.GetToken(), conferenceClaims{
			userID: "user-1", roomID: "room-1", role: "publisher", minutes: 90,
		})
		checkWrongSecretFails(t, response.GetToken())

		if got := response.GetIssueTime().AsTime(); !got.Equal(time.Unix(verified.issuedAt, 0)) {
			t.Errorf("issue_time = %s, want iat %d", got, verified.issuedAt)
		}
		if got := response.GetExpireTime().AsTime(); !got.Equal(time.Unix(verified.expiresAt, 0)) {
			t.Errorf("expire_time = %s, want exp %d", got, verified.expiresAt)
		}
		if response.GetRole() != tokenv1.Role_ROLE_PUBLISHER {
			t.Errorf("role = %v, want ROLE_PUBLISHER", response.GetRole())
		}
		wantGrants := []*tokenv1.ChannelGrant{
			{Channel: "room-1", Read: true, Write: true},
			{Channel: "room-1-pnpres", Read: true, Write: true},
		}
		checkGrants(t, "chat_grants", response.GetChatGrants(), wantGrants)

		embedded := decodePubNubToken(t, verified.pubnubToken)
		checkPubNubToken(t, embedded, "user-1", "room-1", pubnubRead|pubnubWrite, 90)
	})
}

func TestInteropChatToken(t *testing.T) {
	server := requireLiveServer(t)
	cases := []struct {
		name        string
		read, write bool
		bitmask     uint64
	}{
		{"read only", true, false, pubnubRead},
		{"write only", false, true, pubnubWrite},
		{"read and write", true, true, pubnubRead | pubnubWrite},
	}
	forEachCaller(t, server, func(t *testing.T, caller tokenCaller) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				response, err := caller.issueChatToken(callContext(t), &tokenv1.IssueChatTokenRequest{
					UserId:     "user-2",
					ChannelId:  "lobby_7",
					Read:       tc.read,
					Write:      tc.write,
					TtlMinutes: proto.Uint32(25),
				})
				if err != nil {
					t.Fatalf("IssueChatToken: %v", err)
				}

				wantGrants := []*tokenv1.ChannelGrant{
					{Channel: "lobby_7", Read: tc.read, Write: tc.write},
					{Channel: "lobby_7-pnpres", Read: tc.read, Write: tc.write},
				}
				checkGrants(t, "grants", response.GetGrants(), wantGrants)
				issued := response.GetIssueTime().AsTime()
				if lifetime := response.GetExpireTime().AsTime().Sub(issued); lifetime != 25*time.Minute {
					t.Errorf("expire_time - issue_time = %s, want 25m", lifetime)
				}
				checkNearNow(t, "issue_time", issued)

				token := decodePubNubToken(t, response.GetToken())
				checkPubNubToken(t, token, "user-2", "lobby_7", tc.bitmask, 25)
			})
		}
	})
}

func TestInteropChatTokenDefaultTTL(t *testing.T) {
	server := requireLiveServer(t)
	forEachCaller(t, server, func(t *testing.T, caller tokenCaller) {
		response, err := caller.issueChatToken(callContext(t), &tokenv1.IssueChatTokenRequest{
			UserId: "user-2", ChannelId: "lobby", Read: true,
		})
		if err != nil {
			t.Fatalf("IssueChatToken: %v", err)
		}

		lifetime := response.GetExpireTime().AsTime().Sub(response.GetIssueTime().AsTime())
		if lifetime != 60*time.Minute {
			t.Errorf("expire_time - issue_time = %s, want the default 1h0m0s", lifetime)
		}
		checkPubNubToken(t, decodePubNubToken(t, response.GetToken()), "user-2", "lobby", pubnubRead, 60)
	})
}

func TestInteropInvalidRequestViolations(t *testing.T) {
	server := requireLiveServer(t)
	forEachCaller(t, server, func(t *testing.T, caller tokenCaller) {
		_, err := caller.issueConferenceToken(callContext(t), &tokenv1.IssueConferenceTokenRequest{
			UserId: "user-1",
			RoomId: "a b",
		})
		if err == nil {
			t.Fatal("IssueConferenceToken with room_id \"a b\" and no role returned no error")
		}

		code, violations := caller.statusOf(t, err)
		if code != codes.InvalidArgument {
			t.Errorf("code = %v, want InvalidArgument", code)
		}
		wantReasons := map[string]string{"room_id": "channel.no_reserved_characters", "role": "required"}
		if len(violations) != len(wantReasons) {
			t.Errorf("got %d field violations %+v, want %d", len(violations), violations, len(wantReasons))
		}
		for _, violation := range violations {
			wantReason, ok := wantReasons[violation.Field]
			if !ok {
				t.Errorf("unexpected field violation %+v", violation)
				continue
			}
			if violation.Reason != wantReason {
				t.Errorf("field %s: reason = %q, want %q", violation.Field, violation.Reason, wantReason)
			}
			if violation.Description == "" {
				t.Errorf("field %s: empty description", violation.Field)
			}
			delete(wantReasons, violation.Field)
		}
		for field := range wantReasons {
			t.Errorf("no field violation for %s", field)
		}
	})
}

func TestInteropGetConferenceToken(t *testing.T) {
	server := requireLiveServer(t)
	client := newInsecureClient(t, server.address)

	token, err := client.GetConferenceToken(callContext(t), "user-3", "room-3", "subscriber", 15)
	if err != nil {
		t.Fatalf("GetConferenceToken: %v", err)
	}

	verified := verifyConferenceToken(t, server, token, conferenceClaims{
		userID: "user-3", roomID: "room-3", role: "subscriber", minutes: 15,
	})
	embedded := decodePubNubToken(t, verified.pubnubToken)
	checkPubNubToken(t, embedded, "user-3", "room-3", pubnubRead|pubnubWrite, 15)
}

func TestInteropGetChatToken(t *testing.T) {
	server := requireLiveServer(t)
	client := newInsecureClient(t, server.address)

	token, err := client.GetChatToken(callContext(t), "user-3", "room-3", true, false, 5)
	if err != nil {
		t.Fatalf("GetChatToken: %v", err)
	}

	checkPubNubToken(t, decodePubNubToken(t, token), "user-3", "room-3", pubnubRead, 5)
}

func TestInteropGetConferenceTokenZeroMinutes(t *testing.T) {
	server := requireLiveServer(t)
	client := newInsecureClient(t, server.address)

	_, err := client.GetConferenceToken(callContext(t), "user-3", "room-3", "admin", 0)

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("error = %T (%v), want *red5token.Error", err, err)
	}
	if serviceErr.Code != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument", serviceErr.Code)
	}
	violation, ok := serviceErr.Violation("expiration_minutes")
	if !ok {
		t.Fatalf("no field violation for expiration_minutes in %+v", serviceErr.FieldViolations)
	}
	if violation.Reason != "uint32.gte_lte" {
		t.Errorf("reason = %q, want uint32.gte_lte", violation.Reason)
	}
}

func TestInteropGetChatTokenNeitherReadNorWrite(t *testing.T) {
	server := requireLiveServer(t)
	client := newInsecureClient(t, server.address)

	_, err := client.GetChatToken(callContext(t), "user-3", "room-3", false, false, 60)

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("error = %T (%v), want *red5token.Error", err, err)
	}
	if serviceErr.Code != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument", serviceErr.Code)
	}
	want := []red5token.FieldViolation{{
		Field:       "",
		Description: "read and write are both false; set read, write or both to true",
		Reason:      "chat.read_or_write",
	}}
	if !reflect.DeepEqual(serviceErr.FieldViolations, want) {
		t.Errorf("FieldViolations = %+v, want %+v", serviceErr.FieldViolations, want)
	}
}

func TestInteropClientRejectsUnknownRole(t *testing.T) {
	server := requireLiveServer(t)
	client := newInsecureClient(t, server.address)

	token, err := client.GetConferenceToken(callContext(t), "user-3", "room-3", "moderator", 60)

	var argumentErr *red5token.ArgumentError
	if !errors.As(err, &argumentErr) {
		t.Fatalf("error = %T (%v), want *red5token.ArgumentError", err, err)
	}
	if argumentErr.Argument != "role" {
		t.Errorf("Argument = %q, want role", argumentErr.Argument)
	}
	if argumentErr.Value != `"moderator"` {
		t.Errorf("Value = %s, want \"moderator\"", argumentErr.Value)
	}
	if token != "" {
		t.Errorf("token = %q, want empty", token)
	}
}

func checkGrants(t *testing.T, name string, got, want []*tokenv1.ChannelGrant) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", name, got, want)
		return
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}
