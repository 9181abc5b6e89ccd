package mgmt

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger"
)

// apiError is an error answer: {"code","message"} plus "field" for validation errors.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errBad(code, msg, field string) *apiError {
	return &apiError{Status: fasthttp.StatusBadRequest, Code: code, Message: msg, Field: field}
}
func errMissing(field string) *apiError {
	return errBad("MISSING_FIELD", field+" is required", field)
}
func errInvalid(field, msg string) *apiError { return errBad("INVALID_FIELD", msg, field) }
func errNotFound(code, msg string) *apiError {
	return &apiError{Status: fasthttp.StatusNotFound, Code: code, Message: msg}
}
func errConflict(code, msg string) *apiError {
	return &apiError{Status: fasthttp.StatusConflict, Code: code, Message: msg}
}

var (
	errUnauthenticated = &apiError{Status: 401, Code: "UNAUTHENTICATED", Message: "missing credentials: send Authorization: Bearer <token>"}
	errInvalidToken    = &apiError{Status: 401, Code: "INVALID_TOKEN", Message: "the token is not valid"}
	errSessionExpired  = &apiError{Status: 401, Code: "SESSION_EXPIRED", Message: "the session has expired"}
	errClientCert      = &apiError{Status: 401, Code: "CLIENT_CERTIFICATE_REQUIRED", Message: "the /secure channel needs a verified client certificate"}
	errWrongChannel    = &apiError{Status: 403, Code: "WRONG_CHANNEL", Message: "these credentials belong to another channel"}
	errChannelNotAllow = &apiError{Status: 403, Code: "CHANNEL_NOT_ALLOWED", Message: "the /secure channel over plain HTTP is served to loopback clients only"}
	errRole            = &apiError{Status: 403, Code: "INSUFFICIENT_ROLE", Message: "the operator's role does not allow this action"}
	errUnavailable     = &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the service cannot take the request now; retry"}
	errRouteNotFound   = &apiError{Status: 404, Code: "NOT_FOUND", Message: "no such resource"}
	errMethod          = &apiError{Status: 405, Code: "METHOD_NOT_ALLOWED", Message: "method not allowed on this resource"}
	errBodyTooLarge    = &apiError{Status: 413, Code: "BODY_TOO_LARGE", Message: "the request body is too large"}
	errRateLimited     = &apiError{Status: 429, Code: "RATE_LIMITED", Message: "too many requests; slow down"}
	errInternal        = &apiError{Status: 500, Code: "INTERNAL", Message: "internal error"}

	// Registration from the app (POST /customers) needs a registration token from the partner.
	errRegistrationTokenRequired = &apiError{Status: 401, Code: "REGISTRATION_TOKEN_REQUIRED",
		Message: "registration needs a registration token from the partner (POST /secure/registration-tokens): send it in the Registration-Token header or the registrationToken field"}
	errRegistrationTokenInvalid = &apiError{Status: 401, Code: "REGISTRATION_TOKEN_INVALID",
		Message: "the registration token is unknown, expired or already used"}
	errRegistrationTokenMismatch = &apiError{Status: 403, Code: "REGISTRATION_TOKEN_MISMATCH",
		Message: "the registration token was issued for another externalId", Field: "externalId"}
	errRegistrationTokensFull = &apiError{Status: 429, Code: "TOO_MANY_REGISTRATION_TOKENS",
		Message: "too many registration tokens outstanding; retry when some are used or expire"}

	// The four encryption errors of contract §4 (all 400; never encrypted).
	errEncryptionRequired = errBad("ENCRYPTION_REQUIRED", "this endpoint needs an encrypted request (Encrypted-Request: true and Public-Key)", "")
	errInvalidPublicKey   = errBad("INVALID_PUBLIC_KEY", "the Public-Key header is missing or not an RSA public key (standard base64 of its PEM text)", "")
	errInvalidPayload     = errBad("INVALID_PAYLOAD", `the body must be {"payload": "<compact JWE>"}`, "")
	errCantDecrypt        = errBad("CANT_DECRYPT_PAYLOAD", "the payload does not decrypt with the server key (RSA-OAEP-256 or RSA-OAEP, A256GCM)", "")
)

// fromRefusal maps a ledger refusal to its status: Invalid 400, NotFound 404, Conflict 409.
func fromRefusal(r *ledger.Refusal) *apiError {
	e := &apiError{Code: r.Code, Message: r.Message, Field: r.Field}
	switch r.Kind {
	case ledger.Invalid:
		e.Status = 400
	case ledger.NotFound:
		e.Status = 404
	default:
		e.Status = 409
	}
	return e
}

// fromEngine maps an engine or context failure: all are 503 UNAVAILABLE.
func fromEngine(err error) *apiError {
	var r *ledger.Refusal
	if errors.As(err, &r) {
		return fromRefusal(r)
	}
	return errUnavailable
}
