package io.github.red5tokenservice.client;

import io.github.red5tokenservice.token.v1.IssueChatTokenRequest;
import io.github.red5tokenservice.token.v1.IssueChatTokenResponse;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenRequest;
import io.github.red5tokenservice.token.v1.IssueConferenceTokenResponse;
import io.github.red5tokenservice.token.v1.TokenServiceGrpc;
import io.github.red5tokenservice.token.v1.TokenServiceGrpc.TokenServiceBlockingStub;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Pattern;
import javax.net.ssl.TrustManagerFactory;

/**
 * Client of the Red5 token service, which mints Red5 conference tokens and PubNub chat tokens.
 *
 * <p>{@link #getConferenceToken} and {@link #getChatToken} have the parameters and results of the
 * methods of the same names in Red5's backend SDKs, so code that used an SDK changes only where it
 * builds the client:
 *
 * <pre>{@code
 * try (TokenServiceClient client = TokenServiceClient.builder()
 *     .target("127.0.0.1:8080")
 *     .usePlaintext()
 *     .build()) {
 *   String token = client.getConferenceToken("user-1", "room-1", "publisher", 60);
 * }
 * }</pre>
 *
 * <p>{@link #issueConferenceToken} and {@link #issueChatToken} return the full responses, with the
 * issue and expiry times and the chat permissions granted.
 *
 * <p>Every call has the deadline set on the builder and is blocking. Failures are {@link
 * TokenServiceException}s. A client is thread-safe: build one per process, share it, and close it
 * on shutdown.
 */
public final class TokenServiceClient implements AutoCloseable {

  /** How long {@link #close()} waits for calls in flight before cancelling them. */
  private static final Duration CLOSE_GRACE = Duration.ofSeconds(5);

  private final ManagedChannel ownedChannel;
  private final TokenServiceBlockingStub stub;
  private final Duration deadline;
  private volatile boolean closed;

  private TokenServiceClient(ManagedChannel ownedChannel, TokenServiceBlockingStub stub, Duration deadline) {
    this.ownedChannel = ownedChannel;
    this.stub = stub;
    this.deadline = deadline;
  }

  /**
   * Starts building a client. Set either a target, or an existing channel.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Issues a Red5 conference token, as Red5's SDK method {@code getConferenceToken} does: an HS256
   * JWT with the claims {@code uid}, {@code roomId}, {@code role}, the PubNub keys, a PubNub token
   * for the room's chat, {@code iat} and {@code exp}.
   *
   * @param userId user id, 1 to 92 characters without control characters or surrounding whitespace
   * @param roomId room id, 1 to 85 characters, none of {@code , : * / \ .} or space, not ending with
   *     {@code -pnpres}
   * @param role {@code "admin"}, {@code "publisher"} or {@code "subscriber"}, exactly
   * @param expirationMinutes token lifetime in minutes, 1 to 43200 and at most the server's
   *     {@code TOKEN_MAX_MINUTES}
   * @return the token, a compact JWS. Treat it as a secret.
   * @throws TokenServiceException with {@code INVALID_ARGUMENT} for another role name or negative
   *     minutes (raised before any call) or when the service rejects an argument, and with another
   *     code when the call fails
   * @throws NullPointerException if {@code userId} or {@code roomId} is null
   */
  public String getConferenceToken(String userId, String roomId, String role, int expirationMinutes) {
    IssueConferenceTokenRequest request = IssueConferenceTokenRequest.newBuilder()
        .setUserId(Objects.requireNonNull(userId, "userId"))
        .setRoomId(Objects.requireNonNull(roomId, "roomId"))
        .setRole(SdkArguments.toRole(role))
        .setExpirationMinutes(SdkArguments.toMinutes("expiration_minutes", expirationMinutes))
        .build();
    return issueConferenceToken(request).getToken();
  }

  /**
   * Issues a PubNub Access Manager v3 token for one channel and its presence channel ({@code
   * channelId + "-pnpres"}), as Red5's SDK method {@code getChatToken} does.
   *
   * @param userId user id, authorized as the PubNub user of the token, with the rules of {@link
   *     #getConferenceToken}
   * @param channelId PubNub channel, with the rules of the room id of {@link #getConferenceToken}
   * @param read whether the token grants subscribe and history on both channels
   * @param write whether the token grants publish on both channels. At least one of {@code read}
   *     and {@code write} must be true.
   * @param ttlMinutes token lifetime in minutes, 1 to 43200 and at most the server's {@code
   *     TOKEN_MAX_MINUTES}
   * @return the token, exactly as PubNub returned it. Treat it as a secret.
   * @throws TokenServiceException with {@code INVALID_ARGUMENT} for negative minutes (raised before
   *     any call) or when the service rejects an argument, and with another code when the call fails
   * @throws NullPointerException if {@code userId} or {@code channelId} is null
   */
  public String getChatToken(String userId, String channelId, boolean read, boolean write, int ttlMinutes) {
    IssueChatTokenRequest request = IssueChatTokenRequest.newBuilder()
        .setUserId(Objects.requireNonNull(userId, "userId"))
        .setChannelId(Objects.requireNonNull(channelId, "channelId"))
        .setRead(read)
        .setWrite(write)
        .setTtlMinutes(SdkArguments.toMinutes("ttl_minutes", ttlMinutes))
        .build();
    return issueChatToken(request).getToken();
  }

  /**
   * Issues a Red5 conference token and returns the whole response: the token, its issue and
   * expiry times, its role and the chat permissions of its embedded PubNub token. The request is
   * sent unchanged, and the service checks it.
   *
   * @param request the request, in which an unset {@code expiration_minutes} means 60
   * @return the service's response
   * @throws TokenServiceException when the service rejects the request or the call fails
   */
  public IssueConferenceTokenResponse issueConferenceToken(IssueConferenceTokenRequest request) {
    Objects.requireNonNull(request, "request");
    return call(stub -> stub.issueConferenceToken(request));
  }

  /**
   * Issues a PubNub chat token and returns the whole response: the token, its issue and expiry
   * times, and the permissions granted on the channel and its presence channel. The request is
   * sent unchanged, and the service checks it.
   *
   * @param request the request, in which an unset {@code ttl_minutes} means 60
   * @return the service's response
   * @throws TokenServiceException when the service rejects the request or the call fails
   */
  public IssueChatTokenResponse issueChatToken(IssueChatTokenRequest request) {
    Objects.requireNonNull(request, "request");
    return call(stub -> stub.issueChatToken(request));
  }

  /**
   * Closes the client. A channel the builder created is shut down, and calls still in flight get
   * 5 seconds before they are cancelled. A channel passed to {@link Builder#channel} stays open,
   * because its owner closes it. Closing twice does nothing more.
   */
  @Override
  public void close() {
    closed = true;
    if (ownedChannel == null) {
      return;
    }
    ownedChannel.shutdown();
    try {
      if (!ownedChannel.awaitTermination(CLOSE_GRACE.toNanos(), TimeUnit.NANOSECONDS)) {
        ownedChannel.shutdownNow();
      }
    } catch (InterruptedException e) {
      ownedChannel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  private <T> T call(Function<TokenServiceBlockingStub, T> method) {
    if (closed) {
      throw new IllegalStateException("the token service client is closed; build a new one");
    }
    // A deadline is a point in time, so each call gets its own.
    TokenServiceBlockingStub callStub = stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS);
    try {
      return method.apply(callStub);
    } catch (StatusRuntimeException e) {
      throw TokenServiceException.fromStatusRuntimeException(e);
    }
  }

  /**
   * Builder of {@link TokenServiceClient}. Set exactly one of {@link #target} and {@link #channel}.
   * With a target, the client opens its own channel: TLS with the JDK's trusted certificate
   * authorities by default, TLS with other trust roots through {@link #trustRoots}, or cleartext
   * HTTP/2 through {@link #usePlaintext}.
   */
  public static final class Builder {

    /**
     * Default deadline of each call. It equals the service's default CALL_BUDGET_MS, the time the
     * service gives PubNub on a call that arrives without a deadline.
     */
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);

    /**
     * Maximum deadline that {@link #deadline} accepts, 2^31-1 milliseconds (about 24.8 days). The
     * service rejects longer deadlines with {@code INVALID_ARGUMENT}, because Node.js timers cannot
     * wait longer.
     */
    public static final Duration MAX_DEADLINE = Duration.ofMillis(Integer.MAX_VALUE);

    /** Visible ASCII without spaces: what an HTTP/2 header value can carry after "Bearer ". */
    private static final Pattern BEARER_KEY = Pattern.compile("[\\x21-\\x7E]+");

    private String target;
    private boolean plaintext;
    private Path trustRootsPem;
    private Channel channel;
    private String bearerKey;
    private Duration deadline = DEFAULT_DEADLINE;

    private Builder() {}

    /**
     * Sets the service's address. The client opens and owns a channel to it.
     *
     * @param target {@code host:port}, such as {@code "127.0.0.1:8080"}, or a gRPC target URI such
     *     as {@code "dns:///tokens.example.com:443"}
     * @return this builder
     * @throws IllegalArgumentException if {@code target} is blank
     */
    public Builder target(String target) {
      Objects.requireNonNull(target, "target");
      if (target.isBlank()) {
        throw new IllegalArgumentException("target is blank; pass host:port, such as 127.0.0.1:8080");
      }
      this.target = target;
      return this;
    }

    /**
     * Talks cleartext HTTP/2 (h2c, prior knowledge) to the target instead of TLS, as the service
     * serves when TLS_CERT_FILE and TLS_KEY_FILE are unset. Use it on loopback or a trusted
     * network only.
     *
     * @return this builder
     */
    public Builder usePlaintext() {
      this.plaintext = true;
      return this;
    }

    /**
     * Uses TLS and trusts the certificate authorities in a PEM file instead of the JDK's, for a
     * service whose certificate a private authority signed, or a self-signed one.
     *
     * @param pemFile file with one or more PEM certificates, read when {@link #build()} runs, which
     *     throws {@link UncheckedIOException} if the file cannot be read and {@link
     *     IllegalArgumentException} if it contains no certificate
     * @return this builder
     */
    public Builder trustRoots(Path pemFile) {
      this.trustRootsPem = Objects.requireNonNull(pemFile, "pemFile");
      return this;
    }

    /**
     * Uses an existing channel instead of a target, for example a {@link ManagedChannel} with the
     * application's own settings. The client never shuts it down, because its owner does. The
     * bearer key and deadline still apply.
     *
     * @param channel the channel to call the service on
     * @return this builder
     */
    public Builder channel(Channel channel) {
      this.channel = Objects.requireNonNull(channel, "channel");
      return this;
    }

    /**
     * Sends {@code authorization: Bearer <key>} metadata on every call, which a service with callers
     * configured checks. Over {@link #usePlaintext} the key travels unencrypted.
     *
     * @param key the credential, visible ASCII characters without spaces
     * @return this builder
     * @throws IllegalArgumentException if {@code key} is empty or has other characters
     */
    public Builder bearerToken(String key) {
      Objects.requireNonNull(key, "key");
      if (!BEARER_KEY.matcher(key).matches()) {
        throw new IllegalArgumentException(
            "bearer token is empty or has characters other than visible ASCII; pass the key alone, without \"Bearer \"");
      }
      this.bearerKey = key;
      return this;
    }

    /**
     * Sets the deadline of each call, counted from its start. A call without a response by then
     * fails with {@code DEADLINE_EXCEEDED}. Default: {@link #DEFAULT_DEADLINE}.
     *
     * @param deadline a positive duration, at most {@link #MAX_DEADLINE}
     * @return this builder
     * @throws IllegalArgumentException if {@code deadline} is zero, negative or longer than {@link
     *     #MAX_DEADLINE}
     */
    public Builder deadline(Duration deadline) {
      Objects.requireNonNull(deadline, "deadline");
      if (deadline.isZero() || deadline.isNegative() || deadline.compareTo(MAX_DEADLINE) > 0) {
        throw new IllegalArgumentException("deadline must be positive and at most " + MAX_DEADLINE.toMillis()
            + " ms (2^31-1 ms, about 24.8 days), the longest deadline the service accepts, not " + deadline);
      }
      this.deadline = deadline;
      return this;
    }

    /**
     * Builds the client. With a target, it opens a channel, which connects on the first call.
     *
     * @return a new client
     * @throws IllegalStateException if neither or both of target and channel are set, or if a
     *     channel is combined with {@link #usePlaintext} or {@link #trustRoots}, or plaintext with
     *     trust roots
     * @throws UncheckedIOException if the {@link #trustRoots} file cannot be read
     * @throws IllegalArgumentException if the {@link #trustRoots} file contains no certificate that
     *     the JDK can parse, with the parser's exception as the cause
     */
    public TokenServiceClient build() {
      checkSettings();
      ManagedChannel ownedChannel = null;
      Channel callChannel = channel;
      if (callChannel == null) {
        ownedChannel = Grpc.newChannelBuilder(target, channelCredentials()).build();
        callChannel = ownedChannel;
      }

      TokenServiceBlockingStub stub = TokenServiceGrpc.newBlockingStub(callChannel);
      if (bearerKey != null) {
        stub = stub.withCallCredentials(new BearerCredentials(bearerKey));
      }
      return new TokenServiceClient(ownedChannel, stub, deadline);
    }

    private void checkSettings() {
      if (target == null && channel == null) {
        throw new IllegalStateException("set target(\"host:port\") or channel(...) before build()");
      }
      if (target != null && channel != null) {
        throw new IllegalStateException("set target or channel, not both");
      }
      if (channel != null && (plaintext || trustRootsPem != null)) {
        throw new IllegalStateException(
            "usePlaintext() and trustRoots(...) configure a channel the client opens; configure an existing channel yourself");
      }
      if (plaintext && trustRootsPem != null) {
        throw new IllegalStateException("usePlaintext() turns TLS off, so trustRoots(...) cannot apply; choose one");
      }
    }

    private ChannelCredentials channelCredentials() {
      if (plaintext) {
        return InsecureChannelCredentials.create();
      }
      TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
      if (trustRootsPem != null) {
        tls.trustManager(trustManagerFactory(trustRootsPem).getTrustManagers());
      }
      return tls.build();
    }

    /**
     * Reads the certificates in {@code pemFile} here, so that a file that is not PEM fails with a
     * message that names it. Passing the file to grpc-java instead makes the channel builder throw
     * {@code ManagedChannelRegistry.ProviderNotFoundException}, which names neither.
     */
    private static TrustManagerFactory trustManagerFactory(Path pemFile) {
      byte[] pem;
      try {
        pem = Files.readAllBytes(pemFile);
      } catch (IOException e) {
        throw new UncheckedIOException("failed to read the trustRoots file " + pemFile, e);
      }
      try {
        Collection<? extends Certificate> certificates =
            CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem));
        if (certificates.isEmpty()) {
          throw new IllegalArgumentException(
              "invalid trustRoots file " + pemFile + ": it contains no certificate; pass a file of PEM certificates");
        }
        KeyStore trustStore = KeyStore.getInstance(KeyStore.getDefaultType());
        trustStore.load(null, null);
        int index = 0;
        for (Certificate certificate : certificates) {
          trustStore.setCertificateEntry("trust-root-" + index++, certificate);
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trustStore);
        return factory;
      } catch (GeneralSecurityException | IOException e) {
        throw new IllegalArgumentException(
            "invalid trustRoots file " + pemFile + ": " + e + "; pass a file of PEM certificates", e);
      }
    }
  }
}
