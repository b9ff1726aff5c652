package red5token_test

import (
	"errors"
	"testing"

	red5token "github.com/red5-token-service/red5-token-service/clients/go"
	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
)

func TestParseRoleKnownNames(t *testing.T) {
	cases := []struct {
		name string
		want tokenv1.Role
	}{
		{red5token.RoleAdmin, tokenv1.Role_ROLE_ADMIN},
		{red5token.RolePublisher, tokenv1.Role_ROLE_PUBLISHER},
		{red5token.RoleSubscriber, tokenv1.Role_ROLE_SUBSCRIBER},
		{"admin", tokenv1.Role_ROLE_ADMIN},
		{"publisher", tokenv1.Role_ROLE_PUBLISHER},
		{"subscriber", tokenv1.Role_ROLE_SUBSCRIBER},
	}
	for _, tc := range cases {
		got, err := red5token.ParseRole(tc.name)
		if err != nil {
			t.Errorf("ParseRole(%q) error = %v, want nil", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseRole(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseRoleRejectsOtherNames(t *testing.T) {
	cases := []struct {
		name      string
		wantValue string
	}{
		{"", `""`},
		{"Admin", `"Admin"`},
		{"PUBLISHER", `"PUBLISHER"`},
		{" subscriber", `" subscriber"`},
		{"ROLE_ADMIN", `"ROLE_ADMIN"`},
		{"owner", `"owner"`},
		{"unspecified", `"unspecified"`},
	}
	for _, tc := range cases {
		got, err := red5token.ParseRole(tc.name)
		if got != tokenv1.Role_ROLE_UNSPECIFIED {
			t.Errorf("ParseRole(%q) = %v, want ROLE_UNSPECIFIED", tc.name, got)
		}
		var argumentErr *red5token.ArgumentError
		if !errors.As(err, &argumentErr) {
			t.Errorf("ParseRole(%q) error = %v, want *ArgumentError", tc.name, err)
			continue
		}
		if argumentErr.Argument != "role" {
			t.Errorf("ParseRole(%q) Argument = %q, want role", tc.name, argumentErr.Argument)
		}
		if argumentErr.Value != tc.wantValue {
			t.Errorf("ParseRole(%q) Value = %s, want %s", tc.name, argumentErr.Value, tc.wantValue)
		}
		want := `red5token: invalid role ` + tc.wantValue + `: must be "admin", "publisher" or "subscriber"`
		if err.Error() != want {
			t.Errorf("ParseRole(%q) message = %q, want %q", tc.name, err.Error(), want)
		}
	}
}
