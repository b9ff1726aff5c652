package io.github.red5tokenservice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.auth0.jwt.JWT;
import com.auth0.jwt.algorithms.Algorithm;
import com.auth0.jwt.exceptions.SignatureVerificationException;
import com.auth0.jwt.interfaces.DecodedJWT;
import io.github.red5tokenservice.token.v1.ChannelGrant;
import io.github.red5tokenservice.token.v1.IssueChatTokenRequest;
import io.github.red5tokenservice.token.v1.IssueChatTokenResponse;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse;
import io.github.red5tokenservice.token.v1.Role;
import io.grpc.Status;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client against a live token service given by the environment (see {@link LiveService}).
 * Conference tokens are verified here with the service's conference secret, independently of the
 * service's own JWT library.
 */
@EnabledIfEnvironmentVariable(named = LiveService.ADDRESS_VARIABLE, matches = ".*\\S.*", disabledReason = LiveService.SKIPPED_REASON)
class TokenServiceInteropTest {

  /** Largest difference between the service's clock and this test's, in seconds. */
  private static final long CLOCK_TOLERANCE_SECONDS = 5;

  private static final Set<String> RED5_CLAIMS =
      Set.of("uid", "roomId", "role", "pubnubSubscribeKey", "pubnubPublishKey", "pubnubToken", "iat", "exp");

  private static TokenServiceClient client;

  @BeforeAll
  static void connect() {
    client = TokenServiceClient.builder().target(LiveService.address()).usePlaintext().build();
  }

  @AfterAll
  static void close() {
    if (client != null) {
      client.close();
    }
  }

  private static DecodedJWT verifyConferenceToken(String token) {
    return JWT.require(Algorithm.HMAC256(LiveService.conferenceSecret())).build().verify(token);
  }

  private static void assertNearNow(long epochSeconds) {
    long now = Instant.now().getEpochSecond();
    assertTrue(
        Math.abs(epochSeconds - now) <= CLOCK_TOLERANCE_SECONDS,
        "time " + epochSeconds + " is more than " + CLOCK_TOLERANCE_SECONDS + " s from now, " + now);
  }

  private static List<ChannelGrant> grantsOnChannelAndPresence(String channel, boolean read, boolean write) {
    return List.of(
        ChannelGrant.newBuilder().setChannel(channel).setRead(read).setWrite(write).build(),
        ChannelGrant.newBuilder().setChannel(channel + "-pnpres").setRead(read).setWrite(write).build());
  }

  private static Set<String> fieldsAndReasons(TokenServiceException exception) {
    return exception.getFieldViolations().stream()
        .map(violation -> violation.field() + " " + violation.reason())
        .collect(Collectors.toSet());
  }

  @ParameterizedTest
  @ValueSource(strings = {"admin", "publisher", "subscriber"})
  void conferenceTokenVerifiesWithSecret(String role) {
    String token = client.getConferenceToken("user-1", "room-1", role, 90);

    DecodedJWT jwt = verifyConferenceToken(token);
    assertEquals("HS256", jwt.getAlgorithm());
    assertEquals("JWT", jwt.getType());
    assertEquals(RED5_CLAIMS, jwt.getClaims().keySet());
    assertEquals("user-1", jwt.getClaim("uid").asString());
    assertEquals("room-1", jwt.getClaim("roomId").asString());
    assertEquals(role, jwt.getClaim("role").asString());
    assertEquals(LiveService.pubnubSubscribeKey(), jwt.getClaim("pubnubSubscribeKey").asString());
    assertEquals(LiveService.pubnubPublishKey(), jwt.getClaim("pubnubPublishKey").asString());
    assertFalse(jwt.getClaim("pubnubToken").asString().isBlank());
    long issuedAt = jwt.getClaim("iat").asLong();
    assertNearNow(issuedAt);
    assertEquals(issuedAt + 60 * 90, jwt.getClaim("exp").asLong());
  }

  @Test
  void conferenceTokenRejectsOtherSecret() {
    String token = client.getConferenceToken("user-1", "room-1", "publisher", 60);

    Algorithm otherSecret = Algorithm.HMAC256(LiveService.conferenceSecret() + "-other");
    assertThrows(SignatureVerificationException.class, () -> JWT.require(otherSecret).build().verify(token));
  }

  @Test
  void conferenceResponseMatchesClaims() {
    IssueConferenceTokenRequest request = IssueConferenceTokenRequest.newBuilder()
        .setUserId("user-3")
        .setRoomId("room-3")
        .setRole(Role.ROLE_SUBSCRIBER)
        .build();

    IssueConferenceTokenResponse response = client.issueConferenceToken(request);

    DecodedJWT jwt = verifyConferenceToken(response.getToken());
    long issuedAt = jwt.getClaim("iat").asLong();
    assertEquals(issuedAt, response.getIssueTime().getSeconds());
    assertEquals(issuedAt + 60 * 60, jwt.getClaim("exp").asLong(), "an unset expiration_minutes means 60");
    assertEquals(jwt.getClaim("exp").asLong(), response.getExpireTime().getSeconds());
    assertEquals(Role.ROLE_SUBSCRIBER, response.getRole());
    assertEquals("subscriber", jwt.getClaim("role").asString());
    assertEquals(grantsOnChannelAndPresence("room-3", true, true), response.getChatGrantsList());
  }

  @ParameterizedTest
  @CsvSource({"true, false", "false, true", "true, true"})
  void chatTokenGrantsAsRequested(boolean read, boolean write) {
    IssueChatTokenRequest request = IssueChatTokenRequest.newBuilder()
        .setUserId("user-2")
        .setChannelId("lobby")
        .setRead(read)
        .setWrite(write)
        .setTtlMinutes(15)
        .build();

    IssueChatTokenResponse response = client.issueChatToken(request);

    assertFalse(response.getToken().isBlank());
    assertEquals(grantsOnChannelAndPresence("lobby", read, write), response.getGrantsList());
    assertNearNow(response.getIssueTime().getSeconds());
    assertEquals(15 * 60, response.getExpireTime().getSeconds() - response.getIssueTime().getSeconds());
  }

  @Test
  void chatTokenDefaultsToSixtyMinutes() {
    IssueChatTokenRequest request =
        IssueChatTokenRequest.newBuilder().setUserId("user-2").setChannelId("lobby").setRead(true).build();

    IssueChatTokenResponse response = client.issueChatToken(request);

    assertEquals(60 * 60, response.getExpireTime().getSeconds() - response.getIssueTime().getSeconds());
  }

  @Test
  void sdkChatTokenReturnsToken() {
    String token = client.getChatToken("user-2", "lobby", true, true, 30);

    assertFalse(token.isBlank());
  }

  @Test
  void badConferenceRequestListsViolations() {
    IssueConferenceTokenRequest request =
        IssueConferenceTokenRequest.newBuilder().setUserId("user-1").setRoomId("a b").build();

    TokenServiceException exception =
        assertThrows(TokenServiceException.class, () -> client.issueConferenceToken(request));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(2, exception.getFieldViolations().size());
    assertEquals(Set.of("room_id channel.no_reserved_characters", "role required"), fieldsAndReasons(exception));
    for (FieldViolation violation : exception.getFieldViolations()) {
      assertFalse(violation.description().isBlank(), "description of " + violation.field());
      assertTrue(exception.getDescription().contains(violation.field()), "message names " + violation.field());
    }
  }

  @Test
  void sdkConferenceTokenBadRoomRejected() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "a b", "publisher", 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(Set.of("room_id channel.no_reserved_characters"), fieldsAndReasons(exception));
    assertEquals(1, exception.getFieldViolations().size());
  }

  @Test
  void zeroMinutesRejectedByService() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", "publisher", 0));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(Set.of("expiration_minutes uint32.gte_lte"), fieldsAndReasons(exception));
  }

  @Test
  void negativeMinutesErrorMatchesService() {
    TokenServiceException fromService = assertThrows(
        TokenServiceException.class, () -> client.getChatToken("user-2", "lobby", true, true, 0));
    TokenServiceException fromClient = assertThrows(
        TokenServiceException.class, () -> client.getChatToken("user-2", "lobby", true, true, -1));

    assertNull(fromClient.getCause(), "raised by the client, not converted from a gRPC error");
    assertEquals(fromService.getCode(), fromClient.getCode());
    assertEquals(fromService.getDescription(), fromClient.getDescription());
    assertEquals(fromService.getFieldViolations(), fromClient.getFieldViolations());
  }

  @Test
  void chatWithoutReadOrWriteRejected() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getChatToken("user-2", "lobby", false, false, 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(Set.of(" chat.read_or_write"), fieldsAndReasons(exception));
  }

  @Test
  void unknownRoleNeverReachesService() {
    TokenServiceException exception = assertThrows(
        TokenServiceException.class, () -> client.getConferenceToken("user-1", "room-1", "owner", 60));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(Set.of("role enum.defined_only"), fieldsAndReasons(exception));
    assertNull(exception.getCause(), "raised by the client, not converted from a gRPC error");
  }

  @Test
  void bearerTokenAccepted() {
    try (TokenServiceClient withKey =
        TokenServiceClient.builder().target(LiveService.address()).usePlaintext().bearerToken("interop-key").build()) {
      assertFalse(withKey.getChatToken("user-2", "lobby", true, false, 5).isBlank());
    }
  }
}
