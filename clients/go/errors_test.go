package red5token_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// invalidRoomAndRole builds the status that the service returns for room_id "a b" and an unset
// role.
func invalidRoomAndRole(t *testing.T) *status.Status {
	t.Helper()
	st, err := status.New(codes.InvalidArgument, "invalid request: room_id: reserved [channel.no_reserved_characters]; role: value is required [required]").
		WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "room_id", Description: "must not contain any of , : * / \\ . or space", Reason: "channel.no_reserved_characters"},
			{Field: "role", Description: "value is required", Reason: "required"},
		}})
	if err != nil {
		t.Fatalf("build status: %v", err)
	}
	return st
}

var invalidRoomAndRoleViolations = []red5token.FieldViolation{
	{Field: "room_id", Description: "must not contain any of , : * / \\ . or space", Reason: "channel.no_reserved_characters"},
	{Field: "role", Description: "value is required", Reason: "required"},
}

func TestFromErrorDecodesFieldViolations(t *testing.T) {
	st := invalidRoomAndRole(t)

	err := red5token.FromError(st.Err())

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("FromError returned %T (%v), want *red5token.Error", err, err)
	}
	if serviceErr.Code != codes.InvalidArgument {
		t.Errorf("Code = %v, want InvalidArgument", serviceErr.Code)
	}
	if serviceErr.Message != st.Message() {
		t.Errorf("Message = %q, want %q", serviceErr.Message, st.Message())
	}
	if !reflect.DeepEqual(serviceErr.FieldViolations, invalidRoomAndRoleViolations) {
		t.Errorf("FieldViolations = %+v, want %+v", serviceErr.FieldViolations, invalidRoomAndRoleViolations)
	}
	if want := "red5token: InvalidArgument: " + st.Message(); err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestErrorViolationByField(t *testing.T) {
	var serviceErr *red5token.Error
	if !errors.As(red5token.FromError(invalidRoomAndRole(t).Err()), &serviceErr) {
		t.Fatal("FromError did not return a *red5token.Error")
	}

	role, ok := serviceErr.Violation("role")
	if !ok {
		t.Fatal(`Violation("role") found nothing`)
	}
	if role.Reason != "required" {
		t.Errorf(`Violation("role").Reason = %q, want required`, role.Reason)
	}
	if _, ok := serviceErr.Violation("user_id"); ok {
		t.Error(`Violation("user_id") found a violation, want none`)
	}
}

func TestErrorKeepsGRPCStatus(t *testing.T) {
	st := invalidRoomAndRole(t)
	wrapped := fmt.Errorf("issuing a token: %w", red5token.FromError(st.Err()))

	if got := status.Code(wrapped); got != codes.InvalidArgument {
		t.Errorf("status.Code = %v, want InvalidArgument", got)
	}
	var serviceErr *red5token.Error
	if !errors.As(wrapped, &serviceErr) {
		t.Fatal("errors.As found no *red5token.Error in a wrapped error")
	}
	if got := serviceErr.GRPCStatus().Details(); len(got) != 1 {
		t.Errorf("GRPCStatus().Details() has %d entries, want 1", len(got))
	}
}

func TestFromErrorSkipsOtherDetails(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "invalid request").WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "ttl_minutes", Description: "must be greater than or equal to 1", Reason: "uint32.gte_lte"},
		}},
	)
	if err != nil {
		t.Fatalf("build status: %v", err)
	}

	var serviceErr *red5token.Error
	if !errors.As(red5token.FromError(st.Err()), &serviceErr) {
		t.Fatal("FromError did not return a *red5token.Error")
	}
	want := []red5token.FieldViolation{{Field: "ttl_minutes", Description: "must be greater than or equal to 1", Reason: "uint32.gte_lte"}}
	if !reflect.DeepEqual(serviceErr.FieldViolations, want) {
		t.Errorf("FieldViolations = %+v, want %+v", serviceErr.FieldViolations, want)
	}
}

func TestFromErrorWithoutDetails(t *testing.T) {
	err := red5token.FromError(status.Error(codes.Unavailable, "PubNub is unavailable; retry later"))

	var serviceErr *red5token.Error
	if !errors.As(err, &serviceErr) {
		t.Fatalf("FromError returned %T, want *red5token.Error", err)
	}
	if serviceErr.Code != codes.Unavailable {
		t.Errorf("Code = %v, want Unavailable", serviceErr.Code)
	}
	if serviceErr.Message != "PubNub is unavailable; retry later" {
		t.Errorf("Message = %q", serviceErr.Message)
	}
	if serviceErr.FieldViolations != nil {
		t.Errorf("FieldViolations = %+v, want nil", serviceErr.FieldViolations)
	}
}

func TestFromErrorPassesOtherErrors(t *testing.T) {
	plain := errors.New("not a gRPC error")
	if got := red5token.FromError(plain); got != plain {
		t.Errorf("FromError(plain) = %v, want the same error", got)
	}
	if got := red5token.FromError(nil); got != nil {
		t.Errorf("FromError(nil) = %v, want nil", got)
	}
}
