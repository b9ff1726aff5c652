package red5token

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is an error returned by the service: its gRPC code, its message and, for
// INVALID_ARGUMENT, one field violation per broken input rule, decoded from the
// google.rpc.BadRequest detail. Use errors.As to get it from an error that a Client returns.
//
// The service returns INVALID_ARGUMENT for input that breaks a rule, UNAVAILABLE when PubNub
// failed after retries (safe to retry later), DEADLINE_EXCEEDED, FAILED_PRECONDITION when PubNub
// rejected the service's credentials, and INTERNAL. grpc-go adds its own codes, such as
// UNAVAILABLE when the service cannot be reached and CANCELED when the context is cancelled.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message. For INVALID_ARGUMENT it lists each field and rule.
	Message string
	// FieldViolations holds the field violations of the google.rpc.BadRequest detail, in the
	// order the service sent them, or nil when the status has no such detail.
	FieldViolations []FieldViolation

	status *status.Status
}

// FieldViolation is one broken input rule.
type FieldViolation struct {
	// Field is the request field's name in the proto, such as "room_id".
	Field string
	// Description states what the field must be, such as "value is required".
	Description string
	// Reason is the rule id, such as "required" or "channel.no_reserved_characters".
	Reason string
}

// Error returns the code and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("red5token: %s: %s", e.Code, e.Message)
}

// GRPCStatus returns the status the error was built from, so that status.FromError and
// status.Code from google.golang.org/grpc/status work on it and on errors that wrap it.
func (e *Error) GRPCStatus() *status.Status {
	return e.status
}

// Violation returns the first field violation of field, and whether there is one.
func (e *Error) Violation(field string) (FieldViolation, bool) {
	for _, violation := range e.FieldViolations {
		if violation.Field == field {
			return violation, true
		}
	}
	return FieldViolation{}, false
}

// FromError converts an error returned by the grpc-go stub to an *Error. An error that carries no
// gRPC status is returned unchanged, and nil stays nil.
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &Error{
		Code:            st.Code(),
		Message:         st.Message(),
		FieldViolations: fieldViolations(st),
		status:          st,
	}
}

func fieldViolations(st *status.Status) []FieldViolation {
	var violations []FieldViolation
	for _, detail := range st.Details() {
		badRequest, ok := detail.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, violation := range badRequest.GetFieldViolations() {
			violations = append(violations, FieldViolation{
				Field:       violation.GetField(),
				Description: violation.GetDescription(),
				Reason:      violation.GetReason(),
			})
		}
	}
	return violations
}
