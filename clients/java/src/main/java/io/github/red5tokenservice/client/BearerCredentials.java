package io.github.red5tokenservice.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import java.util.concurrent.Executor;

/** Call credentials that send {@code authorization: Bearer <key>} on every call. */
final class BearerCredentials extends CallCredentials {

  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final String headerValue;

  BearerCredentials(String key) {
    this.headerValue = "Bearer " + key;
  }

  @Override
  public void applyRequestMetadata(RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
    // Applied on every channel, plaintext included, so that loopback development works. Over a
    // plaintext channel the key travels unencrypted.
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, headerValue);
    applier.apply(headers);
  }
}
