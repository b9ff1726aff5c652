package red5token_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/golang-jwt/jwt/v5"
)

// clockTolerance is how far the issue times of the service and of PubNub's emulator may be from
// this test's clock.
const clockTolerance = 10 * time.Second

// PubNub Access Manager permission bits.
const (
	pubnubRead  = 1
	pubnubWrite = 2
)

// conferenceClaims is what a conference token must carry.
type conferenceClaims struct {
	userID  string
	roomID  string
	role    string
	minutes int64
}

// verifiedConference is a conference token whose signature and claims were checked.
type verifiedConference struct {
	issuedAt    int64
	expiresAt   int64
	pubnubToken string
}

// verifyConferenceToken checks token's HS256 signature with the conference secret, its header and
// its claims, and returns its times and embedded PubNub token.
func verifyConferenceToken(t *testing.T, server liveServer, token string, want conferenceClaims) verifiedConference {
	t.Helper()
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(),
	)
	claims := jwt.MapClaims{}
	parsed, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return []byte(server.conferenceSecret), nil
	})
	if err != nil {
		t.Fatalf("verify conference token with the conference secret: %v", err)
	}

	wantHeader := map[string]any{"alg": "HS256", "typ": "JWT"}
	if !maps.Equal(parsed.Header, wantHeader) {
		t.Errorf("JWT header = %v, want %v", parsed.Header, wantHeader)
	}

	wantClaimNames := []string{"exp", "iat", "pubnubPublishKey", "pubnubSubscribeKey", "pubnubToken", "role", "roomId", "uid"}
	if names := slices.Sorted(maps.Keys(claims)); !slices.Equal(names, wantClaimNames) {
		t.Errorf("claim names = %v, want exactly %v", names, wantClaimNames)
	}
	for name, wantValue := range map[string]string{
		"uid":                want.userID,
		"roomId":             want.roomID,
		"role":               want.role,
		"pubnubSubscribeKey": server.pubnubSubscribeKey,
		"pubnubPublishKey":   server.pubnubPublishKey,
	} {
		if got := claims[name]; got != wantValue {
			t.Errorf("claim %s = %v, want %q", name, got, wantValue)
		}
	}
	pubnubToken, ok := claims["pubnubToken"].(string)
	if !ok || pubnubToken == "" {
		t.Errorf("claim pubnubToken = %v, want a non-empty string", claims["pubnubToken"])
	}

	issuedAt := integerClaim(t, claims, "iat")
	expiresAt := integerClaim(t, claims, "exp")
	if expiresAt-issuedAt != 60*want.minutes {
		t.Errorf("exp - iat = %d s, want %d s (60 * %d minutes)", expiresAt-issuedAt, 60*want.minutes, want.minutes)
	}
	checkNearNow(t, "iat", time.Unix(issuedAt, 0))

	return verifiedConference{issuedAt: issuedAt, expiresAt: expiresAt, pubnubToken: pubnubToken}
}

// checkWrongSecretFails shows that verifyConferenceToken's check depends on the secret.
func checkWrongSecretFails(t *testing.T, token string) {
	t.Helper()
	_, err := jwt.Parse(token, func(*jwt.Token) (any, error) {
		return []byte("not-the-conference-secret"), nil
	}, jwt.WithValidMethods([]string{"HS256"}))
	if err == nil {
		t.Error("conference token verified with a wrong secret, want a signature error")
	}
}

func integerClaim(t *testing.T, claims jwt.MapClaims, name string) int64 {
	t.Helper()
	number, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %v (%T), want a number", name, claims[name], claims[name])
	}
	value, err := number.Int64()
	if err != nil {
		t.Fatalf("claim %s = %s, want whole seconds: %v", name, number, err)
	}
	return value
}

func checkNearNow(t *testing.T, name string, got time.Time) {
	t.Helper()
	if offset := time.Since(got); offset > clockTolerance || offset < -clockTolerance {
		t.Errorf("%s = %s, %s from now; want within %s", name, got.UTC().Format(time.RFC3339), offset, clockTolerance)
	}
}

// pubnubToken is the part of a PubNub Access Manager v3 token that the tests check.
type pubnubToken struct {
	version  uint64
	issuedAt uint64
	// ttlMinutes is the token's lifetime in minutes.
	ttlMinutes uint64
	uuid       string
	// channels maps each channel in res.chan to its permission bitmask.
	channels map[string]uint64
}

// decodePubNubToken decodes a v3 token: URL-safe base64 with padding, of a CBOR map with
// byte-string keys v, t, ttl, res, pat, meta, uuid and sig. It fails the test if a required key is
// missing or a key is not a byte string.
func decodePubNubToken(t *testing.T, token string) pubnubToken {
	t.Helper()
	if len(token)%4 != 0 {
		t.Errorf("PubNub token is %d characters long, want a multiple of 4 (padded base64)", len(token))
	}
	if strings.ContainsAny(token, "+/") {
		t.Errorf("PubNub token %q contains + or /, want the URL-safe base64 alphabet", token)
	}
	raw, err := base64.URLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("decode PubNub token as padded URL-safe base64: %v", err)
	}

	var fields map[cbor.ByteString]cbor.RawMessage
	if err := cbor.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("decode PubNub token as a CBOR map with byte-string keys: %v", err)
	}
	for _, name := range []string{"v", "t", "ttl", "res", "pat", "meta", "uuid", "sig"} {
		if _, ok := fields[cbor.ByteString(name)]; !ok {
			t.Errorf("PubNub token has no %q key", name)
		}
	}

	var decoded pubnubToken
	unmarshalField(t, fields, "v", &decoded.version)
	unmarshalField(t, fields, "t", &decoded.issuedAt)
	unmarshalField(t, fields, "ttl", &decoded.ttlMinutes)
	unmarshalField(t, fields, "uuid", &decoded.uuid)

	var resources map[cbor.ByteString]cbor.RawMessage
	unmarshalField(t, fields, "res", &resources)
	unmarshalField(t, resources, "chan", &decoded.channels)
	return decoded
}

func unmarshalField(t *testing.T, fields map[cbor.ByteString]cbor.RawMessage, name string, target any) {
	t.Helper()
	raw, ok := fields[cbor.ByteString(name)]
	if !ok {
		t.Fatalf("CBOR map has no %q key", name)
	}
	if err := cbor.Unmarshal(raw, target); err != nil {
		t.Fatalf("decode CBOR value of %q as %T: %v", name, target, err)
	}
}

// checkPubNubToken checks that a decoded PubNub token authorizes userID for ttlMinutes with the
// bitmask on channel and on its presence channel, and on no other channel.
func checkPubNubToken(t *testing.T, token pubnubToken, userID, channel string, bitmask uint64, ttlMinutes uint64) {
	t.Helper()
	if token.version != 2 {
		t.Errorf("PubNub token v = %d, want 2", token.version)
	}
	if token.uuid != userID {
		t.Errorf("PubNub token uuid = %q, want %q", token.uuid, userID)
	}
	if token.ttlMinutes != ttlMinutes {
		t.Errorf("PubNub token ttl = %d minutes, want %d", token.ttlMinutes, ttlMinutes)
	}
	checkNearNow(t, "PubNub token t", time.Unix(int64(token.issuedAt), 0))

	wantChannels := map[string]uint64{channel: bitmask, channel + "-pnpres": bitmask}
	if !maps.Equal(token.channels, wantChannels) {
		t.Errorf("PubNub token res.chan = %v, want %v", token.channels, wantChannels)
	}
}
