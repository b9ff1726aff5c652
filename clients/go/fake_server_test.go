package red5token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// fakeTokenService is an in-process TokenService on loopback that records each request and its
// metadata, and returns the token or error that the test sets.
type fakeTokenService struct {
	tokenv1.UnimplementedTokenServiceServer

	mu                  sync.Mutex
	conferenceRequests  []*tokenv1.IssueConferenceTokenRequest
	chatRequests        []*tokenv1.IssueChatTokenRequest
	authorizationValues [][]string
	token               string
	err                 error
}

func (f *fakeTokenService) IssueConferenceToken(ctx context.Context, request *tokenv1.IssueConferenceTokenRequest) (*tokenv1.IssueConferenceTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conferenceRequests = append(f.conferenceRequests, proto.CloneOf(request))
	f.recordAuthorization(ctx)
	if f.err != nil {
		return nil, f.err
	}
	return &tokenv1.IssueConferenceTokenResponse{Token: f.token, Role: request.GetRole()}, nil
}

func (f *fakeTokenService) IssueChatToken(ctx context.Context, request *tokenv1.IssueChatTokenRequest) (*tokenv1.IssueChatTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chatRequests = append(f.chatRequests, proto.CloneOf(request))
	f.recordAuthorization(ctx)
	if f.err != nil {
		return nil, f.err
	}
	return &tokenv1.IssueChatTokenResponse{Token: f.token}, nil
}

func (f *fakeTokenService) recordAuthorization(ctx context.Context) {
	incoming, _ := metadata.FromIncomingContext(ctx)
	f.authorizationValues = append(f.authorizationValues, incoming.Get("authorization"))
}

func (f *fakeTokenService) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conferenceRequests) + len(f.chatRequests)
}

// startFakeService serves service on 127.0.0.1 with a free port, in cleartext when tlsConfig is
// nil, and returns its address. The server stops when the test ends.
func startFakeService(t *testing.T, service tokenv1.TokenServiceServer, tlsConfig *tls.Config) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}

	var serverOptions []grpc.ServerOption
	if tlsConfig != nil {
		serverOptions = append(serverOptions, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	server := grpc.NewServer(serverOptions...)
	tokenv1.RegisterTokenServiceServer(server, service)
	go func() {
		_ = server.Serve(listener)
	}()
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

// newLoopbackCertificate makes a self-signed ECDSA certificate for 127.0.0.1, and returns the
// server's TLS configuration and a pool that trusts the certificate.
func newLoopbackCertificate(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "red5token test server"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(certificate)
	serverConfig := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: certificate}},
		MinVersion:   tls.VersionTLS12,
	}
	return serverConfig, roots
}
