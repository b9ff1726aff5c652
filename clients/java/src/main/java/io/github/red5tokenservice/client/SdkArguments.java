package io.github.red5tokenservice.client;

import io.github.red5tokenservice.token.v1.Role;
import io.grpc.Status;
import java.util.List;

/**
 * Converts the arguments of Red5's SDK methods into request fields. It checks only what the proto
 * fields cannot carry. The service checks every other rule, so its field violations reach the
 * caller unchanged.
 */
final class SdkArguments {

  /** Description of the proto's rule {@code uint32 = {gte: 1, lte: 43200}}, as the service words it. */
  private static final String MINUTES_RANGE_DESCRIPTION =
      "must be greater than or equal to 1 and less than or equal to 43200";

  private SdkArguments() {}

  /**
   * Maps a Red5 role name to the proto enum. Names match exactly, as Red5 writes them into the
   * token's "role" claim.
   *
   * @throws TokenServiceException with INVALID_ARGUMENT for null or any other name
   */
  static Role toRole(String role) {
    if (role == null) {
      throw invalidArgument("role", "is required; pass admin, publisher or subscriber", "required");
    }
    return switch (role) {
      case "admin" -> Role.ROLE_ADMIN;
      case "publisher" -> Role.ROLE_PUBLISHER;
      case "subscriber" -> Role.ROLE_SUBSCRIBER;
      default -> throw invalidArgument(
          "role", "must be admin, publisher or subscriber, not \"" + role + "\"", "enum.defined_only");
    };
  }

  /**
   * Checks that a minute count fits the proto's uint32 field. A negative int would otherwise be
   * sent as a value above 4 billion. Zero and values above the maximum are sent, and the service
   * rejects them with its own field violation, which the one raised here copies.
   *
   * @throws TokenServiceException with INVALID_ARGUMENT for a negative count
   */
  static int toMinutes(String field, int minutes) {
    if (minutes < 0) {
      throw invalidArgument(field, MINUTES_RANGE_DESCRIPTION, "uint32.gte_lte");
    }
    return minutes;
  }

  /** Builds the error the service would send for one broken rule, in the service's format. */
  private static TokenServiceException invalidArgument(String field, String description, String reason) {
    String message = "invalid request: " + field + ": " + description + " [" + reason + "]";
    return new TokenServiceException(
        Status.Code.INVALID_ARGUMENT, message, List.of(new FieldViolation(field, description, reason)));
  }
}
