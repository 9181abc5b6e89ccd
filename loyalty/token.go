package loyalty

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Initialization tokens (seed §4, contract §7). Both are RS256 JWS signed by a configured
// partner's RSA key; go-jose is given the one allowed algorithm explicitly, and the time checks
// are ours, against the clock passed in.

// Token limits.
const (
	// TokenLifetimeMax is the longest a website token may live (exp − iat) and the TTL of an SDK
	// token counted from its iat (seed: 10 minutes).
	TokenLifetimeMax = 10 * time.Minute
	// ClockSkew is how far in the future an iat may be (the partner's clock ahead of ours).
	ClockSkew = 30 * time.Second
	// TokenBytesMax bounds a token; larger is refused as INVALID_TOKEN without parsing.
	TokenBytesMax = 16 << 10
	// RSABitsMin is the smallest partner key accepted (the seed: RSA 2048).
	RSABitsMin = 2048
)

// ErrToken is the one error of a token that does not pass; its message says which check failed
// without echoing the token.
type ErrToken struct{ Reason string }

func (e *ErrToken) Error() string { return "initialization token: " + e.Reason }

func bad(format string, a ...any) error { return &ErrToken{Reason: fmt.Sprintf(format, a...)} }

// Partner is a partner that may sign tokens.
type Partner struct {
	ID       string
	Key      *rsa.PublicKey
	Programs []string
}

func (p *Partner) allows(programID string) bool {
	for _, id := range p.Programs {
		if id == programID {
			return true
		}
	}
	return false
}

// Action codes of the website token.
const (
	ActionNew         = "N"
	ActionReplacement = "R"
	ActionOptOut      = "C"
)

// WebsiteClaims are a verified initializeWebsiteToken's claims.
type WebsiteClaims struct {
	Partner         string
	Subject         string
	ActionCode      string
	ProgramID       string
	IssuedAt        time.Time
	Expiry          time.Time
	Language        string
	ConfirmationURL string
}

type websiteClaimsJSON struct {
	jwt.Claims
	ActionCode      string `json:"actionCode"`
	ProgramID       string `json:"programId"`
	Language        string `json:"language"`
	ConfirmationURL string `json:"confirmationUrl"`
}

var (
	reSubject  = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	reLanguage = regexp.MustCompile(`^[a-z]{2}([_-][A-Z]{2})?$`)
	reCardHash = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseRS256 parses a compact JWS allowing RS256 only, and reads its claims without verifying
// them (to find the partner whose key verifies it).
func parseRS256(token string, dst any) (*jwt.JSONWebToken, error) {
	if len(token) == 0 || len(token) > TokenBytesMax {
		return nil, bad("missing or too large")
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, bad("not an RS256 JWS")
	}
	if err := tok.UnsafeClaimsWithoutVerification(dst); err != nil {
		return nil, bad("claims are not JSON")
	}
	return tok, nil
}

// VerifyWebsiteToken checks an initializeWebsiteToken (seed §4.2): RS256 by the partner named by
// iss, every required claim present, actionCode N, R or C, a programme the partner may name,
// exp at most 10 minutes after iat, iat not in the future (beyond ClockSkew), now before exp.
func VerifyWebsiteToken(token string, partners func(id string) (*Partner, bool), now time.Time) (WebsiteClaims, error) {
	var c websiteClaimsJSON
	tok, err := parseRS256(token, &c)
	if err != nil {
		return WebsiteClaims{}, err
	}
	p, ok := partners(c.Issuer)
	if !ok {
		return WebsiteClaims{}, bad("unknown issuer")
	}
	var verified websiteClaimsJSON
	if err := tok.Claims(p.Key, &verified); err != nil {
		return WebsiteClaims{}, bad("signature does not verify with the issuer's key")
	}
	c = verified
	switch {
	case c.Subject == "":
		return WebsiteClaims{}, bad("sub is missing")
	case !reSubject.MatchString(c.Subject):
		return WebsiteClaims{}, bad("sub: 1-64 of A-Za-z0-9._:-")
	case c.ActionCode == "":
		return WebsiteClaims{}, bad("actionCode is missing")
	case c.ActionCode != ActionNew && c.ActionCode != ActionReplacement && c.ActionCode != ActionOptOut:
		return WebsiteClaims{}, bad("actionCode: N, R or C")
	case c.ProgramID == "":
		return WebsiteClaims{}, bad("programId is missing")
	case !p.allows(c.ProgramID):
		return WebsiteClaims{}, bad("programId is not one of the issuer's programmes")
	case c.IssuedAt == nil:
		return WebsiteClaims{}, bad("iat is missing")
	case c.Expiry == nil:
		return WebsiteClaims{}, bad("exp is missing")
	case c.Language != "" && !reLanguage.MatchString(c.Language):
		return WebsiteClaims{}, bad("language: like en_US or pl")
	}
	iat, exp := c.IssuedAt.Time(), c.Expiry.Time()
	switch {
	case exp.Sub(iat) > TokenLifetimeMax:
		return WebsiteClaims{}, bad("exp is more than 10 minutes after iat")
	case !exp.After(iat):
		return WebsiteClaims{}, bad("exp is not after iat")
	case iat.After(now.Add(ClockSkew)):
		return WebsiteClaims{}, bad("iat is in the future")
	case !now.Before(exp):
		return WebsiteClaims{}, bad("expired")
	}
	if c.ConfirmationURL != "" {
		if err := checkCallbackURL(c.ConfirmationURL); err != nil {
			return WebsiteClaims{}, err
		}
	}
	return WebsiteClaims{Partner: p.ID, Subject: c.Subject, ActionCode: c.ActionCode, ProgramID: c.ProgramID,
		IssuedAt: iat, Expiry: exp, Language: c.Language, ConfirmationURL: c.ConfirmationURL}, nil
}

func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(raw) > 2048 || u.User != nil {
		return bad("confirmationUrl: an absolute http(s) URL")
	}
	return nil
}

// SDKClaims are a verified initializeSDKToken's claims.
type SDKClaims struct {
	Partner  string
	Subject  string
	ID       string // jti
	IssuedAt time.Time
	CardHash string
}

type sdkClaimsJSON struct {
	jwt.Claims
	CardHash string `json:"cardHash"`
}

// VerifySDKToken checks an initializeSDKToken (seed §4.1): RS256, an x5c header whose leaf
// certificate carries a configured partner's key (RSA 2048 or more) that verifies the signature,
// iat, jti, sub and cardHash present, now − iat at most 10 minutes, iat not in the future beyond
// ClockSkew. The jti's replay is the caller's (Replay).
func VerifySDKToken(token string, partners []*Partner, now time.Time) (SDKClaims, error) {
	var c sdkClaimsJSON
	tok, err := parseRS256(token, &c)
	if err != nil {
		return SDKClaims{}, err
	}
	leaf, err := x5cLeaf(token)
	if err != nil {
		return SDKClaims{}, err
	}
	lk, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || lk.N.BitLen() < RSABitsMin {
		return SDKClaims{}, bad("x5c: the certificate's key is not RSA 2048 or more")
	}
	var p *Partner
	for _, cand := range partners {
		if cand.Key.Equal(lk) {
			p = cand
			break
		}
	}
	if p == nil {
		return SDKClaims{}, bad("x5c: the certificate's key is no partner's")
	}
	var verified sdkClaimsJSON
	if err := tok.Claims(p.Key, &verified); err != nil {
		return SDKClaims{}, bad("signature does not verify with the certificate's key")
	}
	c = verified
	switch {
	case c.IssuedAt == nil:
		return SDKClaims{}, bad("iat is missing")
	case c.ID == "" || len(c.ID) > 128:
		return SDKClaims{}, bad("jti is missing or longer than 128")
	case !reSubject.MatchString(c.Subject):
		return SDKClaims{}, bad("sub is missing or not 1-64 of A-Za-z0-9._:-")
	case !reCardHash.MatchString(c.CardHash):
		return SDKClaims{}, bad("cardHash: 64 lowercase hex characters")
	}
	iat := c.IssuedAt.Time()
	switch {
	case iat.After(now.Add(ClockSkew)):
		return SDKClaims{}, bad("iat is in the future")
	case now.Sub(iat) > TokenLifetimeMax:
		return SDKClaims{}, bad("iat is older than 10 minutes")
	}
	return SDKClaims{Partner: p.ID, Subject: c.Subject, ID: c.ID, IssuedAt: iat, CardHash: c.CardHash}, nil
}

// x5cLeaf reads the leaf certificate of the protected header's x5c.
func x5cLeaf(token string) (*x509.Certificate, error) {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, bad("header is not base64url")
	}
	var h struct {
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, bad("header is not JSON")
	}
	if len(h.X5C) == 0 {
		return nil, bad("x5c header is missing")
	}
	der, err := base64.StdEncoding.DecodeString(h.X5C[0])
	if err != nil {
		return nil, bad("x5c: not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, bad("x5c: not a certificate")
	}
	return cert, nil
}

// errIsToken reports whether err is a token refusal (401) rather than an operating error.
func errIsToken(err error) bool {
	var t *ErrToken
	return errors.As(err, &t)
}
