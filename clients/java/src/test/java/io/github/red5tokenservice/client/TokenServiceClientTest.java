package io.github.red5tokenservice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import io.github.red5tokenservice.token.v1.IssueChatTokenRequest;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest;
import io.github.red5tokenservice.token.v1.Role;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The client against an in-process test double of the service, with no network and no live server. */
class TokenServiceClientTest {

  private RecordingTokenService service;
  private Server server;
  private ManagedChannel channel;
  private TokenServiceClient client;

  @BeforeEach
  void startInProcessService() throws IOException {
    service = new RecordingTokenService();
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).directExecutor().addService(service.definition()).build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    client = TokenServiceClient.builder().channel(channel).build();
  }

  @AfterEach
  void stopInProcessService() throws InterruptedException {
    client.close();
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @ParameterizedTest
  @CsvSource({"admin, ROLE_ADMIN", "publisher, ROLE_PUBLISHER", "subscriber, ROLE_SUBSCRIBER"})
  void conferenceTokenSendsRoleAndFields(String roleName, Role expectedRole) {
    String token = client.getConferenceToken("user-1", "room-1", roleName, 90);

    assertEquals(RecordingTokenService.CONFERENCE_TOKEN, token);
    IssueConferenceTokenRequest request = service.conferenceRequest;
    assertEquals("user-1", request.getUserId());
    assertEquals("room-1", request.getRoomId());
    assertEquals(expectedRole, request.getRole());
    assertTrue(request.hasExpirationMinutes());
    assertEquals(90, request.getExpirationMinutes());
  }

  @ParameterizedTest
  @ValueSource(strings = {"owner", "Admin", "PUBLISHER", "ROLE_PUBLISHER", " publisher", ""})
  void unknownRoleRejectedBeforeCall(String roleName) {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", roleName, 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(1, exception.getFieldViolations().size());
    FieldViolation violation = exception.getFieldViolations().get(0);
    assertEquals("role", violation.field());
    assertEquals("enum.defined_only", violation.reason());
    assertEquals("must be admin, publisher or subscriber, not \"" + roleName + "\"", violation.description());
    assertEquals(
        "invalid request: role: must be admin, publisher or subscriber, not \"" + roleName + "\" [enum.defined_only]",
        exception.getDescription());
    assertEquals(0, service.calls.get());
  }

  @Test
  void nullRoleRejectedAsRequired() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", null, 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(
        List.of(new FieldViolation("role", "is required; pass admin, publisher or subscriber", "required")),
        exception.getFieldViolations());
    assertEquals(0, service.calls.get());
  }

  @Test
  void negativeExpirationRejectedBeforeCall() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", "publisher", -1));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(
        List.of(new FieldViolation(
            "expiration_minutes",
            "must be greater than or equal to 1 and less than or equal to 43200",
            "uint32.gte_lte")),
        exception.getFieldViolations());
    assertEquals(0, service.calls.get());
  }

  @Test
  void zeroExpirationLeftToService() {
    client.getConferenceToken("user-1", "room-1", "publisher", 0);

    assertTrue(service.conferenceRequest.hasExpirationMinutes());
    assertEquals(0, service.conferenceRequest.getExpirationMinutes());
  }

  @Test
  void nullIdsRejectedWithNullPointerException() {
    assertThrows(NullPointerException.class, () -> client.getConferenceToken(null, "room-1", "publisher", 60));
    assertThrows(NullPointerException.class, () -> client.getConferenceToken("user-1", null, "publisher", 60));
    assertThrows(NullPointerException.class, () -> client.getChatToken(null, "room-1", true, true, 60));
    assertThrows(NullPointerException.class, () -> client.getChatToken("user-1", null, true, true, 60));
    assertEquals(0, service.calls.get());
  }

  @Test
  void chatTokenSendsFields() {
    String token = client.getChatToken("user-2", "lobby", true, false, 15);

    assertEquals(RecordingTokenService.CHAT_TOKEN, token);
    IssueChatTokenRequest request = service.chatRequest;
    assertEquals("user-2", request.getUserId());
    assertEquals("lobby", request.getChannelId());
    assertTrue(request.getRead());
    assertFalse(request.getWrite());
    assertTrue(request.hasTtlMinutes());
    assertEquals(15, request.getTtlMinutes());
  }

  @Test
  void negativeTtlRejectedBeforeCall() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getChatToken("user-2", "lobby", true, true, -5));

    assertEquals(
        List.of(new FieldViolation(
            "ttl_minutes", "must be greater than or equal to 1 and less than or equal to 43200", "uint32.gte_lte")),
        exception.getFieldViolations());
    assertEquals(0, service.calls.get());
  }

  @Test
  void fullRequestSentUnchanged() {
    IssueConferenceTokenRequest request =
        IssueConferenceTokenRequest.newBuilder().setUserId("user-1").setRoomId("a b").build();

    client.issueConferenceToken(request);

    assertEquals(request, service.conferenceRequest);
  }

  @Test
  void serviceErrorBecomesTokenServiceException() {
    BadRequest badRequest = BadRequest.newBuilder()
        .addFieldViolations(BadRequest.FieldViolation.newBuilder()
            .setField("channel_id")
            .setDescription("must not end with -pnpres")
            .setReason("channel.not_presence"))
        .build();
    service.failure = StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(Code.INVALID_ARGUMENT_VALUE)
        .setMessage("invalid request: channel_id: must not end with -pnpres [channel.not_presence]")
        .addDetails(Any.pack(badRequest))
        .build());

    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getChatToken("user-2", "lobby-pnpres", true, true, 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(
        "invalid request: channel_id: must not end with -pnpres [channel.not_presence]", exception.getDescription());
    assertEquals(
        List.of(new FieldViolation("channel_id", "must not end with -pnpres", "channel.not_presence")),
        exception.getFieldViolations());
  }

  @Test
  void unavailableServiceKeepsCode() {
    service.failure = Status.UNAVAILABLE.withDescription("PubNub is unavailable; retry later").asRuntimeException();

    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", "admin", 60));

    assertEquals(Status.Code.UNAVAILABLE, exception.getCode());
    assertEquals("PubNub is unavailable; retry later", exception.getDescription());
    assertEquals(List.of(), exception.getFieldViolations());
  }

  @Test
  void bearerTokenSentAsAuthorization() {
    try (TokenServiceClient withKey = TokenServiceClient.builder().channel(channel).bearerToken("key-123").build()) {
      withKey.getChatToken("user-2", "lobby", true, true, 60);
    }

    assertEquals("Bearer key-123", service.headers.get(BearerCredentials.AUTHORIZATION));
  }

  @Test
  void noAuthorizationWithoutBearerToken() {
    client.getChatToken("user-2", "lobby", true, true, 60);

    assertNull(service.headers.get(BearerCredentials.AUTHORIZATION));
  }

  @Test
  void defaultDeadlineApplied() {
    client.getChatToken("user-2", "lobby", true, true, 60);

    long remainingMillis = service.deadline.timeRemaining(TimeUnit.MILLISECONDS);
    assertTrue(remainingMillis <= TokenServiceClient.Builder.DEFAULT_DEADLINE.toMillis(), "remaining " + remainingMillis);
    assertTrue(remainingMillis > TokenServiceClient.Builder.DEFAULT_DEADLINE.toMillis() - 5_000, "remaining " + remainingMillis);
  }

  @Test
  void configuredDeadlineApplied() {
    try (TokenServiceClient shortDeadline =
        TokenServiceClient.builder().channel(channel).deadline(Duration.ofMillis(1500)).build()) {
      shortDeadline.getChatToken("user-2", "lobby", true, true, 60);
    }

    long remainingMillis = service.deadline.timeRemaining(TimeUnit.MILLISECONDS);
    assertTrue(remainingMillis <= 1500, "remaining " + remainingMillis);
    assertTrue(remainingMillis > 0, "remaining " + remainingMillis);
  }

  @Test
  void closeLeavesCallersChannelOpen() {
    client.close();

    assertFalse(channel.isShutdown());
    IllegalStateException exception = assertThrows(
        IllegalStateException.class, () -> client.getChatToken("user-2", "lobby", true, true, 60));
    assertEquals("the token service client is closed; build a new one", exception.getMessage());
    assertEquals(0, service.calls.get());
  }

  @Test
  void builderNeedsTargetOrChannel() {
    IllegalStateException exception =
        assertThrows(IllegalStateException.class, () -> TokenServiceClient.builder().build());
    assertEquals("set target(\"host:port\") or channel(...) before build()", exception.getMessage());
  }

  @Test
  void builderRejectsTargetAndChannel() {
    TokenServiceClient.Builder builder = TokenServiceClient.builder().target("127.0.0.1:8080").channel(channel);

    IllegalStateException exception = assertThrows(IllegalStateException.class, builder::build);
    assertEquals("set target or channel, not both", exception.getMessage());
  }

  @Test
  void builderRejectsTransportSettingsWithChannel() {
    assertThrows(
        IllegalStateException.class, () -> TokenServiceClient.builder().channel(channel).usePlaintext().build());
    assertThrows(
        IllegalStateException.class,
        () -> TokenServiceClient.builder().channel(channel).trustRoots(Path.of("ca.pem")).build());
  }

  @Test
  void builderRejectsPlaintextWithTrustRoots() {
    TokenServiceClient.Builder builder =
        TokenServiceClient.builder().target("127.0.0.1:8080").usePlaintext().trustRoots(Path.of("ca.pem"));

    IllegalStateException exception = assertThrows(IllegalStateException.class, builder::build);
    assertEquals("usePlaintext() turns TLS off, so trustRoots(...) cannot apply; choose one", exception.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "   "})
  void builderRejectsBlankTarget(String target) {
    assertThrows(IllegalArgumentException.class, () -> TokenServiceClient.builder().target(target));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "", "Bearer secret-key-1", "secret-key-1 end", "secret-key-1\n", "secret-key-1\r", "secret-key-1\r\nx-injected: 1",
      "secret-key-1\u0000", "secret-key-1\tend", "secret-key-1\u007f", "secret-key-1-ключ", "secret-key-1\u00e9"})
  void builderRejectsInvalidBearerToken(String key) {
    IllegalArgumentException exception =
        assertThrows(IllegalArgumentException.class, () -> TokenServiceClient.builder().bearerToken(key));

    assertFalse(exception.getMessage().contains("secret-key-1"), exception.getMessage());
    assertTrue(exception.getMessage().contains("bearer token"), exception.getMessage());
  }

  @ParameterizedTest
  @ValueSource(longs = {0, -1})
  void builderRejectsNonPositiveDeadline(long millis) {
    assertThrows(
        IllegalArgumentException.class, () -> TokenServiceClient.builder().deadline(Duration.ofMillis(millis)));
  }

  @ParameterizedTest
  @ValueSource(longs = {Integer.MAX_VALUE + 1L, 30L * 24 * 60 * 60 * 1000, Long.MAX_VALUE})
  void builderRejectsDeadlineOverMax(long millis) {
    IllegalArgumentException exception = assertThrows(
        IllegalArgumentException.class, () -> TokenServiceClient.builder().deadline(Duration.ofMillis(millis)));

    assertTrue(exception.getMessage().startsWith("deadline "), exception.getMessage());
    assertTrue(exception.getMessage().contains("2147483647 ms"), exception.getMessage());
  }

  @Test
  void builderRejectsDeadlineOverLongNanos() {
    Duration deadline = Duration.ofSeconds(Long.MAX_VALUE);

    assertThrows(IllegalArgumentException.class, () -> TokenServiceClient.builder().deadline(deadline));
  }

  @Test
  void maxDeadlineApplied() {
    try (TokenServiceClient longDeadline = TokenServiceClient.builder()
        .channel(channel)
        .deadline(Duration.ofMillis(Integer.MAX_VALUE))
        .build()) {
      longDeadline.getChatToken("user-2", "lobby", true, true, 60);
    }

    long remainingMillis = service.deadline.timeRemaining(TimeUnit.MILLISECONDS);
    assertTrue(remainingMillis <= Integer.MAX_VALUE, "remaining " + remainingMillis);
    assertTrue(remainingMillis > Integer.MAX_VALUE - 5_000L, "remaining " + remainingMillis);
  }
}
