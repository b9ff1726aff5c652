package io.github.red5tokenservice.examples;

import com.google.protobuf.Timestamp;
import io.github.red5tokenservice.client.FieldViolation;
import io.github.red5tokenservice.client.TokenServiceClient;
import io.github.red5tokenservice.client.TokenServiceException;
import io.github.red5tokenservice.token.v1.IssueChatTokenRequest;
import io.github.red5tokenservice.token.v1.IssueChatTokenResponse;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse;
import io.github.red5tokenservice.token.v1.Role;
import java.time.Instant;
import java.util.List;

/**
 * A backend's token service, in the shape of Red5's documentation examples, that gets tokens from
 * the Red5 token service instead of signing them with Red5's SDK and master credentials.
 *
 * <p>Code that called the SDK keeps its calls, for example {@code
 * client.getConferenceToken(userId, roomId, "publisher", 60)}. Only the construction of the client
 * changes, as in {@link #main}. This example uses the full-response methods instead, because they
 * also return each token's expiry time.
 *
 * <p>Run it against a running service, whose address {@code TOKEN_SERVICE_ADDRESS} gives
 * (default {@value #DEFAULT_ADDRESS}), with {@code mvn -q -f examples/java/pom.xml compile
 * exec:java}. It prints one line per token: the first characters of the token and its expiry.
 */
public final class TokenService {

  /** Address of a service started with {@code npm start}. */
  public static final String DEFAULT_ADDRESS = "127.0.0.1:8080";

  /** Token lifetime this backend requests, in minutes. */
  public static final int TOKEN_MINUTES = 60;

  /** Number of characters of a token that the output shows; the rest stays secret. */
  static final int TOKEN_PREFIX_LENGTH = 8;

  private final TokenServiceClient client;

  /**
   * Creates the backend's token service over a client of the Red5 token service.
   *
   * @param client the client, which the caller keeps and closes
   */
  public TokenService(TokenServiceClient client) {
    this.client = client;
  }

  /**
   * Issues a conference token that lets a user publish to a room for {@value #TOKEN_MINUTES}
   * minutes.
   *
   * @param userId the user's id
   * @param roomId the room's id
   * @return the token with its issue and expiry times
   * @throws TokenServiceException when the service rejects an id or the call fails
   */
  public IssueConferenceTokenResponse issueConferenceToken(String userId, String roomId) {
    return client.issueConferenceToken(IssueConferenceTokenRequest.newBuilder()
        .setUserId(userId)
        .setRoomId(roomId)
        .setRole(Role.ROLE_PUBLISHER)
        .setExpirationMinutes(TOKEN_MINUTES)
        .build());
  }

  /**
   * Issues a chat token that lets a user read and write a channel for {@value #TOKEN_MINUTES}
   * minutes.
   *
   * @param userId the user's id
   * @param channelId the chat channel's id
   * @return the token with its issue and expiry times and the permissions granted
   * @throws TokenServiceException when the service rejects an id or the call fails
   */
  public IssueChatTokenResponse issueChatToken(String userId, String channelId) {
    return client.issueChatToken(IssueChatTokenRequest.newBuilder()
        .setUserId(userId)
        .setChannelId(channelId)
        .setRead(true)
        .setWrite(true)
        .setTtlMinutes(TOKEN_MINUTES)
        .build());
  }

  /**
   * Issues a conference token for a room and a chat token for the room's channel, and describes
   * each without revealing it.
   *
   * @param userId the user's id
   * @param roomId the room's id, also used as the chat channel
   * @return one line per token, as {@link #describe} writes it
   * @throws TokenServiceException when the service rejects an id or a call fails
   */
  public List<String> issueTokensFor(String userId, String roomId) {
    IssueConferenceTokenResponse conference = issueConferenceToken(userId, roomId);
    IssueChatTokenResponse chat = issueChatToken(userId, roomId);
    return List.of(
        describe("conference token for " + userId + " in " + roomId, conference.getToken(), conference.getExpireTime()),
        describe("chat token for " + userId + " on " + roomId, chat.getToken(), chat.getExpireTime()));
  }

  /**
   * Describes a token by its first {@value #TOKEN_PREFIX_LENGTH} characters and its expiry time
   * in UTC, such as {@code "chat token for user-1 on room-1: qEF2AkF0… expires
   * 2026-01-15T13:00:00Z"}.
   *
   * @param label what the token is for
   * @param token the token, of which only the prefix is shown
   * @param expireTime the token's expiry time
   * @return one line without the full token
   */
  static String describe(String label, String token, Timestamp expireTime) {
    String prefix = token.substring(0, Math.min(TOKEN_PREFIX_LENGTH, token.length()));
    Instant expiry = Instant.ofEpochSecond(expireTime.getSeconds(), expireTime.getNanos());
    return label + ": " + prefix + "… expires " + expiry;
  }

  /**
   * Issues both tokens for user-1 in room-1 and prints a line for each. On a failure it prints
   * the error and its field violations to standard error and exits with status 1.
   *
   * @param args not used
   */
  public static void main(String[] args) {
    String address = System.getenv("TOKEN_SERVICE_ADDRESS");
    if (address == null || address.isBlank()) {
      address = DEFAULT_ADDRESS;
    }

    // Building this client is the only change from Red5's SDK. The service that
    // `npm start` runs serves cleartext HTTP/2. For a TLS deployment, drop usePlaintext().
    try (TokenServiceClient client = TokenServiceClient.builder().target(address).usePlaintext().build()) {
      TokenService tokens = new TokenService(client);
      for (String line : tokens.issueTokensFor("user-1", "room-1")) {
        System.out.println(line);
      }
    } catch (TokenServiceException e) {
      System.err.println("token service at " + address + " failed: " + e.getMessage());
      for (FieldViolation violation : e.getFieldViolations()) {
        System.err.println("  " + violation.field() + ": " + violation.description() + " [" + violation.reason() + "]");
      }
      System.exit(1);
    }
  }
}
