package io.github.red5tokenservice.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import io.github.red5tokenservice.client.TokenServiceClient;
import java.time.Instant;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

class TokenServiceTest {

  private static final String ADDRESS_VARIABLE = "TOKEN_SERVICE_ADDRESS";

  /** Largest difference between the service's clock and this test's, in seconds. */
  private static final long CLOCK_TOLERANCE_SECONDS = 5;

  /** A line of the example's output: a label, at most 8 token characters, and the expiry. */
  private static final Pattern OUTPUT_LINE = Pattern.compile("(.+): (\\S{1,8})… expires (\\S+)");

  @Test
  void describeShowsPrefixAndExpiry() {
    String token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1aWQiOiJ1c2VyLTEifQ.c2lnbmF0dXJl";
    Timestamp expireTime = Timestamp.newBuilder().setSeconds(Instant.parse("2026-01-15T13:00:00Z").getEpochSecond()).build();

    String line = TokenService.describe("conference token for user-1 in room-1", token, expireTime);

    assertEquals("conference token for user-1 in room-1: eyJhbGci… expires 2026-01-15T13:00:00Z", line);
  }

  @Test
  void describeShortTokenWhole() {
    Timestamp expireTime = Timestamp.newBuilder().setSeconds(0).build();

    assertEquals("chat token: abc… expires 1970-01-01T00:00:00Z", TokenService.describe("chat token", "abc", expireTime));
  }

  @Test
  @EnabledIfEnvironmentVariable(
      named = ADDRESS_VARIABLE,
      matches = ".*\\S.*",
      disabledReason = ADDRESS_VARIABLE + " is unset, so the example is not run; set it to host:port of a running token service (cleartext h2c)")
  void exampleIssuesBothTokens() {
    try (TokenServiceClient client =
        TokenServiceClient.builder().target(System.getenv(ADDRESS_VARIABLE)).usePlaintext().build()) {
      TokenService tokens = new TokenService(client);

      List<String> lines = tokens.issueTokensFor("user-1", "room-1");

      assertEquals(2, lines.size());
      assertLine("conference token for user-1 in room-1", lines.get(0));
      assertLine("chat token for user-1 on room-1", lines.get(1));
      assertTrue(lines.get(0).contains(": eyJhbGci…"), "a conference token starts with the JWT header: " + lines.get(0));
    }
  }

  private static void assertLine(String expectedLabel, String line) {
    Matcher matcher = OUTPUT_LINE.matcher(line);
    assertTrue(matcher.matches(), "unexpected output line: " + line);
    assertEquals(expectedLabel, matcher.group(1));

    long expiry = Instant.parse(matcher.group(3)).getEpochSecond();
    long expected = Instant.now().getEpochSecond() + 60L * TokenService.TOKEN_MINUTES;
    assertTrue(
        Math.abs(expiry - expected) <= CLOCK_TOLERANCE_SECONDS,
        "expiry " + matcher.group(3) + " is not " + TokenService.TOKEN_MINUTES + " minutes from now");
  }
}
