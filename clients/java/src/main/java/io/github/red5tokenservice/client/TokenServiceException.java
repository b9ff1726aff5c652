package io.github.red5tokenservice.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Failure of a token service call: the gRPC status code, the service's message, and one
 * {@link FieldViolation} per broken input rule when the code is {@code INVALID_ARGUMENT}.
 *
 * <p>The codes the service returns, and what to do about each:
 *
 * <ul>
 *   <li>{@code INVALID_ARGUMENT}: a field breaks a rule. Fix the fields named in {@link
 *       #getFieldViolations()}. The client also raises this code itself, before any call, for a
 *       role name other than admin, publisher or subscriber and for negative minutes.
 *   <li>{@code UNAVAILABLE}: the service or PubNub could not be reached. Retry later.
 *   <li>{@code DEADLINE_EXCEEDED}: the call's deadline passed. Retry with a longer deadline.
 *   <li>{@code FAILED_PRECONDITION}: PubNub rejected the service's credentials or clock. The
 *       operator must fix the deployment, and retrying does not help.
 *   <li>{@code INTERNAL}: an unexpected failure, logged on the server.
 * </ul>
 */
public final class TokenServiceException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String description;
  private final List<FieldViolation> fieldViolations;

  /**
   * Creates an exception with no cause, as the client does for input it rejects before calling
   * the service. Callers may use it to simulate service failures in their own tests.
   *
   * @param code gRPC status code
   * @param description message describing the failure
   * @param fieldViolations broken input rules, empty for codes other than {@code INVALID_ARGUMENT}
   * @throws NullPointerException if any argument is null
   */
  public TokenServiceException(Status.Code code, String description, List<FieldViolation> fieldViolations) {
    this(code, description, fieldViolations, null);
  }

  private TokenServiceException(
      Status.Code code, String description, List<FieldViolation> fieldViolations, Throwable cause) {
    super(code + ": " + description, cause);
    this.code = Objects.requireNonNull(code, "code");
    this.description = Objects.requireNonNull(description, "description");
    this.fieldViolations = List.copyOf(fieldViolations);
  }

  /**
   * Converts a failed gRPC call into a {@code TokenServiceException}, keeping the status code,
   * the status message and the field violations of every {@code google.rpc.BadRequest} detail in
   * the {@code grpc-status-details-bin} trailer. Details of other types are skipped, and so is a
   * detail that claims to be a BadRequest but cannot be decoded.
   *
   * @param exception the exception that a grpc-java stub raised
   * @return an exception whose cause is {@code exception}
   */
  public static TokenServiceException fromStatusRuntimeException(StatusRuntimeException exception) {
    Status status = exception.getStatus();
    String description = status.getDescription() == null ? "" : status.getDescription();
    List<FieldViolation> violations = decodeFieldViolations(StatusProto.fromThrowable(exception));
    return new TokenServiceException(status.getCode(), description, violations, exception);
  }

  /**
   * Returns the gRPC status code of the failure.
   *
   * @return the status code
   */
  public Status.Code getCode() {
    return code;
  }

  /**
   * Returns the status message as the service sent it, without the code prefix that {@link
   * #getMessage()} adds. For {@code INVALID_ARGUMENT} it lists each broken rule.
   *
   * @return the status message, empty when the service sent none
   */
  public String getDescription() {
    return description;
  }

  /**
   * Returns the broken input rules, in the order the service listed them.
   *
   * @return an unmodifiable list, empty when the error carried no {@code google.rpc.BadRequest}
   */
  public List<FieldViolation> getFieldViolations() {
    return fieldViolations;
  }

  private static List<FieldViolation> decodeFieldViolations(com.google.rpc.Status status) {
    if (status == null) {
      return List.of();
    }
    List<FieldViolation> violations = new ArrayList<>();
    for (Any detail : status.getDetailsList()) {
      if (!detail.is(BadRequest.class)) {
        continue;
      }
      BadRequest badRequest;
      try {
        badRequest = detail.unpack(BadRequest.class);
      } catch (InvalidProtocolBufferException e) {
        continue;
      }
      for (BadRequest.FieldViolation violation : badRequest.getFieldViolationsList()) {
        violations.add(
            new FieldViolation(violation.getField(), violation.getDescription(), violation.getReason()));
      }
    }
    return violations;
  }
}
