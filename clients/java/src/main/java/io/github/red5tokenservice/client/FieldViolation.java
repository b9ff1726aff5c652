package io.github.red5tokenservice.client;

import java.io.Serializable;
import java.util.Objects;

/**
 * One broken input rule of a rejected request, as carried by a {@code google.rpc.BadRequest}
 * field violation.
 *
 * @param field proto field name, such as {@code "room_id"}, or empty for a rule on the whole
 *     request, such as {@code chat.read_or_write}
 * @param description what is wrong with the field and how to fix it
 * @param reason stable rule id to match on, such as {@code "channel.no_reserved_characters"} or
 *     {@code "required"}
 */
public record FieldViolation(String field, String description, String reason) implements Serializable {

  /**
   * Creates a field violation.
   *
   * @param field proto field name, empty for a rule on the whole request
   * @param description what is wrong with the field and how to fix it
   * @param reason stable rule id
   * @throws NullPointerException if any argument is null
   */
  public FieldViolation {
    Objects.requireNonNull(field, "field");
    Objects.requireNonNull(description, "description");
    Objects.requireNonNull(reason, "reason");
  }
}
