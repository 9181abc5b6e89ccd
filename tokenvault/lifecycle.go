package tokenvault

import (
	"errors"

	"github.com/cardswitch/cardswitch/authz"
)

// Token lifecycle: a token is registered ACTIVE (or in the state its registration gives), moves
// freely between INACTIVE, ACTIVE and SUSPENDED, and DELETED is final. Which of these moves an
// API caller may ask for (suspend only an active token, ...) is the API's rule on top.

// Errors of the token lifecycle.
var (
	ErrTokenDeleted      = errors.New("tokenvault: the token was deleted")
	ErrUnknownTokenState = errors.New("tokenvault: unknown token state")
)

// KnownTokenState reports whether s is a token state.
func KnownTokenState(s authz.TokenState) bool {
	switch s {
	case authz.TokenActive, authz.TokenSuspended, authz.TokenDeleted, authz.TokenInactive:
		return true
	}
	return false
}

// InitialTokenState is the state a token is registered in: the one asked for, ACTIVE when none.
func InitialTokenState(asked authz.TokenState) (authz.TokenState, error) {
	if asked == "" {
		return authz.TokenActive, nil
	}
	if !KnownTokenState(asked) {
		return "", ErrUnknownTokenState
	}
	return asked, nil
}

// TokenTransition checks a token's move from one state to another: nothing leaves DELETED, and
// the target must be a token state (moving to the current state is allowed and changes nothing).
func TokenTransition(from, to authz.TokenState) error {
	if from == authz.TokenDeleted {
		return ErrTokenDeleted
	}
	if !KnownTokenState(to) {
		return ErrUnknownTokenState
	}
	return nil
}
