package pba

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func writePub(t *testing.T, dir, name string, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type idFixture struct {
	v      *IdentityVerifier
	ec     *ecdsa.PrivateKey
	rsa    *rsa.PrivateKey
	other  *ecdsa.PrivateKey
	now    time.Time
	serial int
}

func newIDFixture(t *testing.T) *idFixture {
	t.Helper()
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	v, err := LoadIdentityVerifier([]KeySpec{
		{KID: "bank-ec", Institution: "bank", Path: writePub(t, dir, "ec.pem", &ec.PublicKey)},
		{KID: "bank-rsa", Institution: "bank", Path: writePub(t, dir, "rsa.pem", &rk.PublicKey)},
		{KID: "other-ec", Institution: "other", Path: writePub(t, dir, "other.pem", &other.PublicKey)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &idFixture{v: v, ec: ec, rsa: rk, other: other, now: time.Unix(1_800_000_000, 0)}
}

func (f *idFixture) claims(purpose string) Claims {
	f.serial++
	c := Claims{Issuer: "bank", Subject: "user-1", IssuedAt: f.now.Unix(), Expiry: f.now.Add(5 * time.Minute).Unix(),
		ID: "jti-" + strings.Repeat("x", f.serial), Purpose: purpose}
	switch purpose {
	case PurposeAccountInfo:
		c.IBAN, c.CountryCode, c.Email = "DE89370400440532013000", "DE", "a@example.com"
	case PurposeIBANInfo:
		c.IBANID = IBANID("DE89370400440532013000")
	}
	return c
}

// Contract §6: every rule of signed data, one row each; all refusals are ErrInvalidIdentity.
func TestVerifyIdentity(t *testing.T) {
	f := newIDFixture(t)
	sign := func(t *testing.T, c Claims) string {
		s, err := Sign(f.ec, "bank-ec", c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		token   func(t *testing.T) string
		purpose string
		ok      bool
	}{
		{"ES256 accountInfo", func(t *testing.T) string { return sign(t, f.claims(PurposeAccountInfo)) }, PurposeAccountInfo, true},
		{"RS256 trustedIdentity", func(t *testing.T) string {
			s, err := Sign(f.rsa, "bank-rsa", f.claims(PurposeTrustedIdentity))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, PurposeTrustedIdentity, true},
		{"ibanInfo", func(t *testing.T) string { return sign(t, f.claims(PurposeIBANInfo)) }, PurposeIBANInfo, true},
		{"wrong purpose", func(t *testing.T) string { return sign(t, f.claims(PurposeIBANInfo)) }, PurposeTrustedIdentity, false},
		{"unknown kid", func(t *testing.T) string {
			s, _ := Sign(f.ec, "nope", f.claims(PurposeTrustedIdentity))
			return s
		}, PurposeTrustedIdentity, false},
		{"kid of another key", func(t *testing.T) string {
			s, _ := Sign(f.other, "bank-ec", f.claims(PurposeTrustedIdentity))
			return s
		}, PurposeTrustedIdentity, false},
		{"iss not the key's institution", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.Issuer = "bank"
			s, _ := Sign(f.other, "other-ec", c)
			return s
		}, PurposeTrustedIdentity, false},
		{"HS256", func(t *testing.T) string {
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))},
				(&jose.SignerOptions{}).WithHeader("kid", "bank-ec"))
			s, _ := jwt.Signed(sig).Claims(f.claims(PurposeTrustedIdentity)).Serialize()
			return s
		}, PurposeTrustedIdentity, false},
		{"ES384", func(t *testing.T) string {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "bank-ec"))
			s, _ := jwt.Signed(sig).Claims(f.claims(PurposeTrustedIdentity)).Serialize()
			return s
		}, PurposeTrustedIdentity, false},
		{"expired", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.IssuedAt, c.Expiry = f.now.Add(-10*time.Minute).Unix(), f.now.Add(-31*time.Second).Unix()
			return sign(t, c)
		}, PurposeTrustedIdentity, false},
		{"expired within leeway", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.IssuedAt, c.Expiry = f.now.Add(-5*time.Minute).Unix(), f.now.Add(-20*time.Second).Unix()
			return sign(t, c)
		}, PurposeTrustedIdentity, true},
		{"life over 10 minutes", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.Expiry = c.IssuedAt + 601
			return sign(t, c)
		}, PurposeTrustedIdentity, false},
		{"iat in the future", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.IssuedAt, c.Expiry = f.now.Add(time.Minute).Unix(), f.now.Add(5*time.Minute).Unix()
			return sign(t, c)
		}, PurposeTrustedIdentity, false},
		{"no jti", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.ID = ""
			return sign(t, c)
		}, PurposeTrustedIdentity, false},
		{"no sub", func(t *testing.T) string {
			c := f.claims(PurposeTrustedIdentity)
			c.Subject = ""
			return sign(t, c)
		}, PurposeTrustedIdentity, false},
		{"accountInfo without iban", func(t *testing.T) string {
			c := f.claims(PurposeAccountInfo)
			c.IBAN = ""
			return sign(t, c)
		}, PurposeAccountInfo, false},
		{"accountInfo with a bad country", func(t *testing.T) string {
			c := f.claims(PurposeAccountInfo)
			c.CountryCode = "XX"
			return sign(t, c)
		}, PurposeAccountInfo, false},
		{"accountInfo without phone or email", func(t *testing.T) string {
			c := f.claims(PurposeAccountInfo)
			c.Email = ""
			return sign(t, c)
		}, PurposeAccountInfo, false},
		{"ibanInfo with a bad ibanId", func(t *testing.T) string {
			c := f.claims(PurposeIBANInfo)
			c.IBANID = strings.ToUpper(c.IBANID)
			return sign(t, c)
		}, PurposeIBANInfo, false},
		{"tampered payload", func(t *testing.T) string {
			s := sign(t, f.claims(PurposeTrustedIdentity))
			parts := strings.Split(s, ".")
			other := strings.Split(sign(t, f.claims(PurposeAccountInfo)), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}, PurposeAccountInfo, false},
		{"not a JWS", func(t *testing.T) string { return "hello" }, PurposeTrustedIdentity, false},
		{"too long", func(t *testing.T) string { return strings.Repeat("a", MaxSignedBytes+1) }, PurposeTrustedIdentity, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.v.Verify(tc.token(t), f.now, tc.purpose)
			if tc.ok {
				if err != nil || c.Subject != "user-1" || c.Issuer != "bank" {
					t.Fatalf("want valid, got %v %+v", err, c)
				}
				return
			}
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("want ErrInvalidIdentity, got %v", err)
			}
		})
	}
}

// Contract §6: a jti is used once; a refused token does not use it up.
func TestVerifyIdentityReplay(t *testing.T) {
	f := newIDFixture(t)
	c := f.claims(PurposeTrustedIdentity)
	s, _ := Sign(f.ec, "bank-ec", c)
	if _, err := f.v.Verify(s, f.now, PurposeAccountInfo); !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("wrong purpose accepted: %v", err)
	}
	if _, err := f.v.Verify(s, f.now, PurposeTrustedIdentity); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := f.v.Verify(s, f.now.Add(time.Second), PurposeTrustedIdentity); !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("replay accepted: %v", err)
	}
	// Another institution may use the same jti value.
	c2 := c
	c2.Issuer = "other"
	s2, _ := Sign(f.other, "other-ec", c2)
	if _, err := f.v.Verify(s2, f.now, PurposeTrustedIdentity); err != nil {
		t.Fatalf("other institution's jti: %v", err)
	}
}

// A full jti table refuses new tokens rather than forgetting a live jti; expired ones are dropped.
func TestJTITableLimit(t *testing.T) {
	f := newIDFixture(t)
	f.v.maxJTIs = 2
	for i := range 2 {
		s, _ := Sign(f.ec, "bank-ec", f.claims(PurposeTrustedIdentity))
		if _, err := f.v.Verify(s, f.now, PurposeTrustedIdentity); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	s, _ := Sign(f.ec, "bank-ec", f.claims(PurposeTrustedIdentity))
	if _, err := f.v.Verify(s, f.now, PurposeTrustedIdentity); !errors.Is(err, ErrReplayTableFull) {
		t.Fatalf("want ErrReplayTableFull, got %v", err)
	}
	later := f.now.Add(6 * time.Minute)
	f.now = later
	s, _ = Sign(f.ec, "bank-ec", f.claims(PurposeTrustedIdentity))
	if _, err := f.v.Verify(s, later, PurposeTrustedIdentity); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}
