package pba

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Signed data of the account holding institution (contract §6): a compact JWS, RS256 or ES256
// only, whose kid names one of the institution's configured keys, with the claims iss, sub, iat,
// exp (at most MaxTokenLife after iat; Leeway either side), jti (used once), purpose, and the
// purpose's own claims. Anything else is ErrInvalidIdentity (401 INVALID_TRUSTED_IDENTITY).

// Purposes of signed data.
const (
	PurposeAccountInfo     = "accountInfo"
	PurposeTrustedIdentity = "trustedIdentity"
	PurposeIBANInfo        = "ibanInfo"
)

// Limits of signed data.
const (
	// MaxTokenLife is the longest exp - iat accepted.
	MaxTokenLife = 10 * time.Minute
	// Leeway is the clock difference tolerated on iat and exp.
	Leeway = 30 * time.Second
	// MaxSignedBytes bounds a compact JWS before it is parsed; longer is refused.
	MaxSignedBytes = 8 << 10
	// DefaultMaxJTIs bounds the remembered jti values (each kept until its token expires): when
	// full, new signed data is refused (ErrReplayTableFull, 503) rather than a jti forgotten early.
	DefaultMaxJTIs = 200_000
)

// Errors of identity verification.
var (
	ErrInvalidIdentity = errors.New("pba: invalid trusted identity")
	ErrReplayTableFull = errors.New("pba: too many signed tokens in flight")
)

// IdentityError says why signed data was refused (for the log; the answer says only
// INVALID_TRUSTED_IDENTITY). It carries no claim values.
type IdentityError struct{ Reason string }

func (e *IdentityError) Error() string        { return "pba: invalid trusted identity: " + e.Reason }
func (e *IdentityError) Is(target error) bool { return target == ErrInvalidIdentity }

func refused(reason string) error { return &IdentityError{Reason: reason} }

// Claims are the claims of signed data.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	ID       string `json:"jti"`
	Purpose  string `json:"purpose"`
	// accountInfo
	IBAN        string `json:"iban,omitempty"`
	CountryCode string `json:"countryCode,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Email       string `json:"email,omitempty"`
	// ibanInfo
	IBANID string `json:"ibanId,omitempty"`
}

// institutionKey is one verification key of an institution.
type institutionKey struct {
	institution string
	key         any // *rsa.PublicKey or *ecdsa.PublicKey
	alg         jose.SignatureAlgorithm
}

// IdentityVerifier verifies signed data. Safe for concurrent use; it owns the jti table.
type IdentityVerifier struct {
	keys map[string]institutionKey // by kid

	mu      sync.Mutex
	maxJTIs int
	jtis    map[string]time.Time // iss|jti -> when it may be forgotten
}

// KeySpec names a verification key: its kid, institution and PEM file.
type KeySpec struct {
	KID, Institution, Path string
}

// LoadIdentityVerifier reads the institutions' public keys.
func LoadIdentityVerifier(specs []KeySpec) (*IdentityVerifier, error) {
	v := &IdentityVerifier{keys: map[string]institutionKey{}, maxJTIs: DefaultMaxJTIs, jtis: map[string]time.Time{}}
	for _, s := range specs {
		raw, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("pba: key %s: %w", s.KID, err)
		}
		k, alg, err := parsePublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("pba: key %s: %w", s.KID, err)
		}
		if _, dup := v.keys[s.KID]; dup {
			return nil, fmt.Errorf("pba: key %s: kid repeated across institutions", s.KID)
		}
		v.keys[s.KID] = institutionKey{institution: s.Institution, key: k, alg: alg}
	}
	return v, nil
}

// parsePublicKey reads a PEM public key: RSA (2048 bits or more) for RS256, EC P-256 for ES256.
func parsePublicKey(raw []byte) (any, jose.SignatureAlgorithm, error) {
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, "", errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("public key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", errors.New("RSA key shorter than 2048 bits")
		}
		return k, jose.RS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, "", errors.New("EC key not on P-256")
		}
		return k, jose.ES256, nil
	}
	return nil, "", errors.New("want an RSA or EC P-256 public key")
}

// Verify checks signed data for one of the purposes allowed and returns its claims. The jti is
// remembered only when everything else passed, so a refused token does not use up its jti.
func (v *IdentityVerifier) Verify(signed string, now time.Time, purposes ...string) (Claims, error) {
	var c Claims
	if len(signed) == 0 || len(signed) > MaxSignedBytes {
		return c, refused("size")
	}
	tok, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return c, refused("not a compact JWS with RS256 or ES256")
	}
	if len(tok.Headers) != 1 {
		return c, refused("signatures")
	}
	h := tok.Headers[0]
	k, ok := v.keys[h.KeyID]
	if !ok {
		return c, refused("unknown kid")
	}
	if jose.SignatureAlgorithm(h.Algorithm) != k.alg {
		return c, refused("algorithm does not fit the key")
	}
	var raw json.RawMessage
	if err := tok.Claims(k.key, &raw); err != nil {
		return c, refused("signature")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, refused("claims")
	}
	if err := checkClaims(&c, k.institution, now, purposes); err != nil {
		return Claims{}, err
	}
	if err := v.useJTI(c.Issuer+"|"+c.ID, time.Unix(c.Expiry, 0).Add(Leeway), now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// checkClaims applies the claim rules (pure: time is passed in).
func checkClaims(c *Claims, institution string, now time.Time, purposes []string) error {
	switch {
	case c.Issuer != institution:
		return refused("iss is not the key's institution")
	case c.Subject == "" || len(c.Subject) > 128:
		return refused("sub")
	case c.ID == "" || len(c.ID) > 128:
		return refused("jti")
	case c.IssuedAt == 0 || c.Expiry == 0:
		return refused("iat and exp are required")
	case c.Expiry <= c.IssuedAt || time.Duration(c.Expiry-c.IssuedAt)*time.Second > MaxTokenLife:
		return refused("exp more than 10 minutes after iat")
	case now.Add(Leeway).Unix() < c.IssuedAt:
		return refused("iat in the future")
	case now.Add(-Leeway).Unix() >= c.Expiry:
		return refused("expired")
	}
	allowed := false
	for _, p := range purposes {
		allowed = allowed || p == c.Purpose
	}
	if !allowed {
		return refused("purpose")
	}
	switch c.Purpose {
	case PurposeAccountInfo:
		if c.IBAN == "" || !validCountry(c.CountryCode) || (c.Phone == "" && c.Email == "") {
			return refused("accountInfo needs iban, countryCode and phone or email")
		}
	case PurposeIBANInfo:
		if !validIBANID(c.IBANID) {
			return refused("ibanInfo needs ibanId")
		}
	}
	return nil
}

// useJTI remembers a jti until forgetAt; a second use is refused.
func (v *IdentityVerifier) useJTI(key string, forgetAt, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, seen := v.jtis[key]; seen {
		return refused("jti used before")
	}
	if len(v.jtis) >= v.maxJTIs {
		for k, t := range v.jtis {
			if !now.Before(t) {
				delete(v.jtis, k)
			}
		}
		if len(v.jtis) >= v.maxJTIs {
			return ErrReplayTableFull
		}
	}
	v.jtis[key] = forgetAt
	return nil
}
