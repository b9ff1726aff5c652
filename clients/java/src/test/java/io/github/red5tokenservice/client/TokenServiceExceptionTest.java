package io.github.red5tokenservice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenServiceExceptionTest {

  private static final String INVALID_MESSAGE =
      "invalid request: room_id: must not contain any of , : * / \\ . or space [channel.no_reserved_characters]; "
          + "role: value is required [required]";

  private static BadRequest.FieldViolation protoViolation(String field, String description, String reason) {
    return BadRequest.FieldViolation.newBuilder()
        .setField(field)
        .setDescription(description)
        .setReason(reason)
        .build();
  }

  private static StatusRuntimeException invalidArgumentWith(Any... details) {
    com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
        .setCode(Code.INVALID_ARGUMENT_VALUE)
        .setMessage(INVALID_MESSAGE)
        .addAllDetails(List.of(details))
        .build();
    return StatusProto.toStatusRuntimeException(status);
  }

  @Test
  void badRequestDetailBecomesFieldViolations() {
    BadRequest badRequest = BadRequest.newBuilder()
        .addFieldViolations(protoViolation("room_id", "must not contain space", "channel.no_reserved_characters"))
        .addFieldViolations(protoViolation("role", "value is required", "required"))
        .build();
    StatusRuntimeException grpcError = invalidArgumentWith(Any.pack(badRequest));

    TokenServiceException exception = TokenServiceException.fromStatusRuntimeException(grpcError);

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(INVALID_MESSAGE, exception.getDescription());
    assertEquals("INVALID_ARGUMENT: " + INVALID_MESSAGE, exception.getMessage());
    assertSame(grpcError, exception.getCause());
    assertEquals(
        List.of(
            new FieldViolation("room_id", "must not contain space", "channel.no_reserved_characters"),
            new FieldViolation("role", "value is required", "required")),
        exception.getFieldViolations());
  }

  @Test
  void otherDetailTypesAreSkipped() {
    ErrorInfo errorInfo = ErrorInfo.newBuilder().setReason("SOMETHING_ELSE").setDomain("example.com").build();
    BadRequest first = BadRequest.newBuilder()
        .addFieldViolations(protoViolation("user_id", "must not be empty", "string.min_len"))
        .build();
    BadRequest second = BadRequest.newBuilder()
        .addFieldViolations(protoViolation("", "read and write are both false", "chat.read_or_write"))
        .build();

    TokenServiceException exception = TokenServiceException.fromStatusRuntimeException(
        invalidArgumentWith(Any.pack(errorInfo), Any.pack(first), Any.pack(second)));

    assertEquals(
        List.of(
            new FieldViolation("user_id", "must not be empty", "string.min_len"),
            new FieldViolation("", "read and write are both false", "chat.read_or_write")),
        exception.getFieldViolations());
  }

  @Test
  void undecodableBadRequestIsSkipped() {
    // 0xFF starts a varint tag that never ends, so parsing fails.
    Any broken = Any.newBuilder()
        .setTypeUrl("type.googleapis.com/google.rpc.BadRequest")
        .setValue(ByteString.copyFrom(new byte[] {(byte) 0xFF}))
        .build();

    TokenServiceException exception = TokenServiceException.fromStatusRuntimeException(invalidArgumentWith(broken));

    assertEquals(Status.Code.INVALID_ARGUMENT, exception.getCode());
    assertEquals(INVALID_MESSAGE, exception.getDescription());
    assertEquals(List.of(), exception.getFieldViolations());
  }

  @Test
  void statusWithoutDetailsKeepsCodeAndMessage() {
    StatusRuntimeException grpcError =
        Status.UNAVAILABLE.withDescription("PubNub is unavailable; retry later").asRuntimeException();

    TokenServiceException exception = TokenServiceException.fromStatusRuntimeException(grpcError);

    assertEquals(Status.Code.UNAVAILABLE, exception.getCode());
    assertEquals("PubNub is unavailable; retry later", exception.getDescription());
    assertEquals("UNAVAILABLE: PubNub is unavailable; retry later", exception.getMessage());
    assertEquals(List.of(), exception.getFieldViolations());
  }

  @Test
  void statusWithoutMessageHasEmptyDescription() {
    TokenServiceException exception =
        TokenServiceException.fromStatusRuntimeException(Status.DEADLINE_EXCEEDED.asRuntimeException());

    assertEquals(Status.Code.DEADLINE_EXCEEDED, exception.getCode());
    assertEquals("", exception.getDescription());
  }

  @Test
  void fieldViolationsAreUnmodifiableCopy() {
    List<FieldViolation> violations = new ArrayList<>();
    violations.add(new FieldViolation("role", "value is required", "required"));

    TokenServiceException exception =
        new TokenServiceException(Status.Code.INVALID_ARGUMENT, "invalid request", violations);
    violations.clear();

    assertEquals(1, exception.getFieldViolations().size());
    assertThrows(UnsupportedOperationException.class, () -> exception.getFieldViolations().clear());
  }
}
