package red5token

import (
	"fmt"
	"math"
	"strconv"

	tokenv1 "github.com/red5-token-service/red5-token-service/gen/go/red5/token/v1"
)

// Role names as Red5's SDKs take them and as the conference token's "role" claim carries them.
const (
	RoleAdmin      = "admin"
	RolePublisher  = "publisher"
	RoleSubscriber = "subscriber"
)

var rolesByName = map[string]tokenv1.Role{
	RoleAdmin:      tokenv1.Role_ROLE_ADMIN,
	RolePublisher:  tokenv1.Role_ROLE_PUBLISHER,
	RoleSubscriber: tokenv1.Role_ROLE_SUBSCRIBER,
}

// ArgumentError reports an argument that the client rejects before sending a request, because
// the request cannot carry it. Such arguments are an id that is not valid UTF-8, a role other than
// "admin", "publisher" or "subscriber", and a number of minutes outside the uint32 range. Values that a request can carry, such as 0
// minutes, go to the service, which rejects them with an *Error.
type ArgumentError struct {
	// Argument is the parameter name, such as "userID", "role" or "expirationMinutes".
	Argument string
	// Value is the rejected value, quoted when it is a string.
	Value string
	// Reason states what the argument must be.
	Reason string
}

// Error returns the parameter, the value and what it must be.
func (e *ArgumentError) Error() string {
	return fmt.Sprintf("red5token: invalid %s %s: %s", e.Argument, e.Value, e.Reason)
}

// ParseRole converts a role name ("admin", "publisher" or "subscriber", lower case) to the
// request's Role. Any other name, the empty string included, returns an *ArgumentError: no role
// is given by default.
func ParseRole(name string) (tokenv1.Role, error) {
	role, ok := rolesByName[name]
	if !ok {
		return tokenv1.Role_ROLE_UNSPECIFIED, &ArgumentError{
			Argument: "role",
			Value:    strconv.Quote(name),
			Reason:   `must be "admin", "publisher" or "subscriber"`,
		}
	}
	return role, nil
}

// minutesToUint32 converts a lifetime in minutes to the request's uint32 field. The service
// checks the range 1 to 43200 itself, so this rejects only values a uint32 cannot hold.
func minutesToUint32(argument string, minutes int) (uint32, error) {
	if minutes < 0 || uint64(minutes) > math.MaxUint32 {
		return 0, &ArgumentError{
			Argument: argument,
			Value:    strconv.Itoa(minutes),
			Reason:   "must be from 1 to 43200",
		}
	}
	return uint32(minutes), nil
}
