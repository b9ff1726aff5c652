package io.github.red5tokenservice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.Status;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The channels the builder opens, against the test double served by Netty on 127.0.0.1: cleartext
 * HTTP/2, and TLS with a self-signed certificate that openssl makes for the test.
 */
class TokenServiceClientTransportTest {

  @TempDir static Path certificateDir;

  private static Path certificate;
  private static Path privateKey;

  private final RecordingTokenService service = new RecordingTokenService();
  private Server server;

  @BeforeAll
  static void makeSelfSignedCertificate() throws IOException, InterruptedException {
    certificate = certificateDir.resolve("server.pem");
    privateKey = certificateDir.resolve("server-key.pem");
    Process openssl = new ProcessBuilder(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", privateKey.toString(), "-out", certificate.toString())
        .redirectErrorStream(true)
        .start();
    String output = new String(openssl.getInputStream().readAllBytes());
    assertTrue(openssl.waitFor(60, TimeUnit.SECONDS), "openssl did not finish in 60 s");
    assertEquals(0, openssl.exitValue(), "openssl failed to make a certificate: " + output);
  }

  @AfterEach
  void stopServer() throws InterruptedException {
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private String startServer(ServerCredentials credentials) throws IOException {
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), credentials)
        .addService(service.definition())
        .build()
        .start();
    return "127.0.0.1:" + server.getPort();
  }

  @Test
  void plaintextCarriesBearerToken() throws IOException {
    String target = startServer(InsecureServerCredentials.create());

    try (TokenServiceClient client =
        TokenServiceClient.builder().target(target).usePlaintext().bearerToken("dev-key").build()) {
      assertEquals(RecordingTokenService.CHAT_TOKEN, client.getChatToken("user-1", "room-1", true, true, 60));
    }

    assertEquals("Bearer dev-key", service.headers.get(BearerCredentials.AUTHORIZATION));
  }

  @Test
  void tlsWithTrustRootsConnects() throws IOException {
    String target = startServer(TlsServerCredentials.create(certificate.toFile(), privateKey.toFile()));

    try (TokenServiceClient client =
        TokenServiceClient.builder().target(target).trustRoots(certificate).bearerToken("tls-key").build()) {
      assertEquals(
          RecordingTokenService.CONFERENCE_TOKEN, client.getConferenceToken("user-1", "room-1", "publisher", 60));
    }

    assertEquals("Bearer tls-key", service.headers.get(BearerCredentials.AUTHORIZATION));
  }

  @Test
  void tlsWithoutTrustRootsRejectsSelfSigned() throws IOException {
    String target = startServer(TlsServerCredentials.create(certificate.toFile(), privateKey.toFile()));

    try (TokenServiceClient client =
        TokenServiceClient.builder().target(target).deadline(Duration.ofSeconds(10)).build()) {
      TokenServiceException exception = assertThrows(
          TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", "publisher", 60));
      assertEquals(Status.Code.UNAVAILABLE, exception.getCode());
    }

    assertEquals(0, service.calls.get());
  }

  @Test
  void plaintextClientCannotCallTlsServer() throws IOException {
    String target = startServer(TlsServerCredentials.create(certificate.toFile(), privateKey.toFile()));

    try (TokenServiceClient client =
        TokenServiceClient.builder().target(target).usePlaintext().deadline(Duration.ofSeconds(10)).build()) {
      TokenServiceException exception = assertThrows(
          TokenServiceException.class, () -> client.getChatToken("user-1", "room-1", true, true, 60));
      assertEquals(Status.Code.UNAVAILABLE, exception.getCode());
    }

    assertEquals(0, service.calls.get());
  }

  @Test
  void missingTrustRootsFileFailsBuild() {
    Path missing = certificateDir.resolve("missing.pem");
    TokenServiceClient.Builder builder = TokenServiceClient.builder().target("127.0.0.1:1").trustRoots(missing);

    UncheckedIOException exception = assertThrows(UncheckedIOException.class, builder::build);
    assertEquals("failed to read the trustRoots file " + missing, exception.getMessage());
  }

  @Test
  void nonPemTrustRootsFileFailsBuild() throws IOException {
    Path notPem = certificateDir.resolve("not-a-certificate.pem");
    Files.writeString(notPem, "this is not a PEM certificate\n");
    TokenServiceClient.Builder builder = TokenServiceClient.builder().target("127.0.0.1:1").trustRoots(notPem);

    IllegalArgumentException exception = assertThrows(IllegalArgumentException.class, builder::build);
    assertTrue(exception.getMessage().contains("trustRoots"), exception.getMessage());
    assertTrue(exception.getMessage().contains(notPem.toString()), exception.getMessage());
    assertNotNull(exception.getCause());
  }

  @Test
  void privateKeyAsTrustRootsFailsBuild() {
    TokenServiceClient.Builder builder = TokenServiceClient.builder().target("127.0.0.1:1").trustRoots(privateKey);

    IllegalArgumentException exception = assertThrows(IllegalArgumentException.class, builder::build);
    assertTrue(exception.getMessage().contains("trustRoots"), exception.getMessage());
    assertTrue(exception.getMessage().contains(privateKey.toString()), exception.getMessage());
  }
}
