package io.github.red5tokenservice.client;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Settings of the live token service that the interop tests call, read from the environment.
 * The tests run only when {@value #ADDRESS_VARIABLE} is set. Once it is, every other variable a
 * test needs must be set too, or that test fails.
 */
final class LiveService {

  /** host:port of a running token service that serves cleartext HTTP/2 (h2c). */
  static final String ADDRESS_VARIABLE = "TOKEN_SERVICE_ADDRESS";

  /** Message of the skipped interop tests. */
  static final String SKIPPED_REASON =
      ADDRESS_VARIABLE + " is unset, so the interop tests are skipped; set it to host:port of a running"
          + " token service (cleartext h2c), with TOKEN_SERVICE_CONFERENCE_SECRET,"
          + " TOKEN_SERVICE_PUBNUB_SUBSCRIBE_KEY and TOKEN_SERVICE_PUBNUB_PUBLISH_KEY";

  private LiveService() {}

  /** Reads host:port of the live service. */
  static String address() {
    return required(ADDRESS_VARIABLE);
  }

  /** Reads the conference secret the live service signs conference tokens with. */
  static String conferenceSecret() {
    return required("TOKEN_SERVICE_CONFERENCE_SECRET");
  }

  /** Reads the PubNub subscribe key the live service writes into conference tokens. */
  static String pubnubSubscribeKey() {
    return required("TOKEN_SERVICE_PUBNUB_SUBSCRIBE_KEY");
  }

  /** Reads the PubNub publish key the live service writes into conference tokens. */
  static String pubnubPublishKey() {
    return required("TOKEN_SERVICE_PUBNUB_PUBLISH_KEY");
  }

  private static String required(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      fail(name + " is unset; the interop tests need it when " + ADDRESS_VARIABLE + " is set");
    }
    return value;
  }
}
