package red5token

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"time"

	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Client calls the TokenService over one gRPC connection. It is safe for concurrent use.
type Client struct {
	conn     *grpc.ClientConn
	ownsConn bool
	stub     tokenv1.TokenServiceClient
	callOpts []grpc.CallOption
	timeout  time.Duration
}

// DefaultTimeout is the deadline of a call whose context has none, unless WithTimeout sets
// another. It equals the service's default CALL_BUDGET_MS and the default deadline of the Java and
// Node.js clients.
const DefaultTimeout = 10 * time.Second

// MaxTimeout is the longest timeout WithTimeout accepts, 2^31-1 milliseconds (about 24.8 days).
// The service rejects longer deadlines, because Node.js timers cannot wait longer.
const MaxTimeout = math.MaxInt32 * time.Millisecond

// Option configures New.
type Option func(*options)

type options struct {
	tlsConfig *tls.Config
	insecure  bool
	bearerKey string
	conn      *grpc.ClientConn
	timeout   time.Duration
}

// WithTLS connects over TLS with config. A nil config means TLS 1.2 or later with the system's
// root certificates, which is also what New uses when neither WithTLS nor WithInsecure is given.
func WithTLS(config *tls.Config) Option {
	return func(o *options) {
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tlsConfig = config
	}
}

// WithInsecure connects in cleartext with HTTP/2 prior knowledge (h2c), as the service listens
// when TLS_CERT_FILE and TLS_KEY_FILE are unset. Use it only on loopback or a trusted network:
// tokens cross the network unencrypted.
func WithInsecure() Option {
	return func(o *options) {
		o.insecure = true
	}
}

// WithBearerKey sends "authorization: Bearer <key>" with every call. An empty key sends no
// header.
//
// The service checks the key when it has callers configured. The key is sent only over TLS:
// New rejects WithBearerKey together with WithInsecure, and a connection passed with WithConn
// must use transport security, or each call fails with UNAUTHENTICATED before it is sent.
func WithBearerKey(key string) Option {
	return func(o *options) {
		o.bearerKey = key
	}
}

// WithTimeout sets the deadline of each call whose context has no deadline, counted from the
// start of the call. Such a call that gets no response in time fails with an *Error whose Code is
// DEADLINE_EXCEEDED. A deadline on the context, shorter or longer, applies instead. The default is
// DefaultTimeout. New rejects a timeout that is not positive or is longer than MaxTimeout.
func WithTimeout(timeout time.Duration) Option {
	return func(o *options) {
		o.timeout = timeout
	}
}

// WithConn makes the client use conn instead of dialing. The target given to New must then be
// empty, WithTLS and WithInsecure must not be given, and Close leaves conn open: the caller
// closes it.
func WithConn(conn *grpc.ClientConn) Option {
	return func(o *options) {
		o.conn = conn
	}
}

// New returns a client for the TokenService at target, a gRPC target such as "127.0.0.1:8080"
// or "dns:///tokens.example.com:443". It connects over TLS with the system's root certificates
// unless WithTLS, WithInsecure or WithConn sets another transport. Like grpc.NewClient, it does
// not connect before the first call.
func New(target string, opts ...Option) (*Client, error) {
	settings := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&settings)
	}
	if err := settings.check(target); err != nil {
		return nil, err
	}

	var callOpts []grpc.CallOption
	if settings.bearerKey != "" {
		callOpts = append(callOpts, grpc.PerRPCCredentials(newBearerCredentials(settings.bearerKey)))
	}

	if settings.conn != nil {
		return newClient(settings.conn, false, callOpts, settings.timeout), nil
	}

	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(settings.transportCredentials()))
	if err != nil {
		return nil, fmt.Errorf("red5token: invalid target %q: %w", target, err)
	}
	return newClient(conn, true, callOpts, settings.timeout), nil
}

func newClient(conn *grpc.ClientConn, ownsConn bool, callOpts []grpc.CallOption, timeout time.Duration) *Client {
	return &Client{
		conn:     conn,
		ownsConn: ownsConn,
		stub:     tokenv1.NewTokenServiceClient(conn),
		callOpts: callOpts,
		timeout:  timeout,
	}
}

func (o *options) check(target string) error {
	if o.tlsConfig != nil && o.insecure {
		return errors.New("red5token: WithTLS and WithInsecure are both given; choose one")
	}
	if o.insecure && o.bearerKey != "" {
		return errors.New("red5token: WithBearerKey needs TLS; remove WithInsecure or the bearer key")
	}
	if err := checkBearerKey(o.bearerKey); err != nil {
		return err
	}
	if o.timeout <= 0 || o.timeout > MaxTimeout {
		return fmt.Errorf("red5token: invalid WithTimeout(%v): must be positive and at most %v (2^31-1 ms), the longest deadline the service accepts", o.timeout, MaxTimeout)
	}
	if o.conn == nil {
		if target == "" {
			return errors.New("red5token: empty target; pass the service address, such as 127.0.0.1:8080")
		}
		return nil
	}
	if target != "" {
		return fmt.Errorf("red5token: target %q given together with WithConn; pass an empty target", target)
	}
	if o.tlsConfig != nil || o.insecure {
		return errors.New("red5token: WithTLS or WithInsecure given together with WithConn; set transport credentials on the connection instead")
	}
	return nil
}

func (o *options) transportCredentials() credentials.TransportCredentials {
	if o.insecure {
		return insecure.NewCredentials()
	}
	if o.tlsConfig != nil {
		return credentials.NewTLS(o.tlsConfig)
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
}

// Close closes the connection that New dialed. A connection passed with WithConn stays open.
func (c *Client) Close() error {
	if !c.ownsConn {
		return nil
	}
	return c.conn.Close()
}
