// Command example issues a conference token and a chat token for one user, as Red5's backend SDK
// examples do, and prints when each token expires. It prints only the first characters of each
// token, because a token is a credential.
//
// Usage:
//
//	go run . [-address host:port] [-tls] [-user id] [-room id] [-role name] [-minutes n]
//
// The address defaults to TOKEN_SERVICE_ADDRESS, or 127.0.0.1:8080 when that is unset, which is
// where `npm start` serves in cleartext.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/protobuf/proto"
)

// defaultAddress is the host:port that `npm start` serves the token service on.
const defaultAddress = "127.0.0.1:8080"

// tokenPrefixLength is how many characters of each token the example prints.
const tokenPrefixLength = 10

// callTimeout bounds both calls together.
const callTimeout = 10 * time.Second

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// settings are the example's command-line settings.
type settings struct {
	address string
	useTLS  bool
	userID  string
	roomID  string
	role    string
	minutes int
}

// parseSettings reads the flags in args. The address comes from -address, else from the
// TOKEN_SERVICE_ADDRESS variable that getenv returns, else defaultAddress.
func parseSettings(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	address := getenv("TOKEN_SERVICE_ADDRESS")
	if address == "" {
		address = defaultAddress
	}

	var parsed settings
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&parsed.address, "address", address, "host:port of the token service (default: TOKEN_SERVICE_ADDRESS, else "+defaultAddress+")")
	flags.BoolVar(&parsed.useTLS, "tls", false, "connect over TLS with the system's root certificates instead of cleartext HTTP/2 (h2c)")
	flags.StringVar(&parsed.userID, "user", "user-1", "user id written into both tokens")
	flags.StringVar(&parsed.roomID, "room", "room-1", "room id of the conference token, also the chat channel")
	flags.StringVar(&parsed.role, "role", red5token.RolePublisher, "conference role: admin, publisher or subscriber")
	flags.IntVar(&parsed.minutes, "minutes", 60, "lifetime of both tokens in minutes, from 1 to 43200")
	if err := flags.Parse(args); err != nil {
		return settings{}, err
	}
	if flags.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected argument %q: pass every setting as a flag, such as -user %s", flags.Arg(0), flags.Arg(0))
	}
	return parsed, nil
}

// run issues a conference token and a chat token with read and write for one user, and writes
// one line for each to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	config, err := parseSettings(args, getenv, stderr)
	if err != nil {
		return err
	}
	role, err := red5token.ParseRole(config.role)
	if err != nil {
		return err
	}
	// The service checks the same range, and its own TOKEN_MAX_MINUTES, but a negative number
	// would not survive the conversion to the request's uint32.
	if config.minutes < 1 || config.minutes > 43200 {
		return fmt.Errorf("invalid -minutes %d: must be from 1 to 43200", config.minutes)
	}

	transport := red5token.WithInsecure()
	if config.useTLS {
		transport = red5token.WithTLS(nil)
	}
	client, err := red5token.New(config.address, transport)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()

	// GetConferenceToken and GetChatToken return only the token string, like Red5's SDKs. The
	// Issue methods also return the expiry time that this example prints.
	conference, err := client.IssueConferenceToken(ctx, &tokenv1.IssueConferenceTokenRequest{
		UserId:            config.userID,
		RoomId:            config.roomID,
		Role:              role,
		ExpirationMinutes: proto.Uint32(uint32(config.minutes)),
	})
	if err != nil {
		return fmt.Errorf("issue conference token: %w", err)
	}
	fmt.Fprintf(stdout, "conference token %s... for %s in %s as %s, expires %s\n",
		prefix(conference.GetToken()), config.userID, config.roomID, config.role, formatTime(conference.GetExpireTime().AsTime()))

	chat, err := client.IssueChatToken(ctx, &tokenv1.IssueChatTokenRequest{
		UserId:     config.userID,
		ChannelId:  config.roomID,
		Read:       true,
		Write:      true,
		TtlMinutes: proto.Uint32(uint32(config.minutes)),
	})
	if err != nil {
		return fmt.Errorf("issue chat token: %w", err)
	}
	fmt.Fprintf(stdout, "chat token %s... for %s on %s, read and write, expires %s\n",
		prefix(chat.GetToken()), config.userID, config.roomID, formatTime(chat.GetExpireTime().AsTime()))
	return nil
}

func prefix(token string) string {
	if len(token) <= tokenPrefixLength {
		return token
	}
	return token[:tokenPrefixLength]
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
