package loyalty

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var (
	testKeysOnce         sync.Once
	partnerKey, otherKey *rsa.PrivateKey
	smallKey             *rsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	testKeysOnce.Do(func() {
		partnerKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		smallKey, _ = rsa.GenerateKey(rand.Reader, 1024)
	})
}

func selfSigned(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partner"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var tokenNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func websiteClaims() map[string]any {
	return map[string]any{"iss": "demo-partner", "sub": "ext-1", "actionCode": "N", "programId": "DEMO-PROGRAM",
		"iat": tokenNow.Unix(), "exp": tokenNow.Add(10 * time.Minute).Unix(), "language": "en_US",
		"confirmationUrl": "https://partner.example/confirm"}
}

func partners(t testing.TB) func(string) (*Partner, bool) {
	testKeys(t)
	p := &Partner{ID: "demo-partner", Key: &partnerKey.PublicKey, Programs: []string{"DEMO-PROGRAM"}}
	return func(id string) (*Partner, bool) { return p, id == p.ID }
}

// TestWebsiteToken is checklist item 4 (and the contract's claims): one row per refusal.
func TestWebsiteToken(t *testing.T) {
	ps := partners(t)
	sign := func(c map[string]any) string {
		tok, err := SignToken(partnerKey, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(websiteClaims())
	c, err := VerifyWebsiteToken(good, ps, tokenNow.Add(time.Minute))
	if err != nil || c.Subject != "ext-1" || c.ActionCode != "N" || c.ProgramID != "DEMO-PROGRAM" ||
		c.Partner != "demo-partner" || c.Language != "en_US" || c.ConfirmationURL != "https://partner.example/confirm" {
		t.Fatalf("%+v %v", c, err)
	}
	hs, _ := signWith(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, websiteClaims(), nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es, _ := signWith(jose.SigningKey{Algorithm: jose.ES256, Key: ec}, websiteClaims(), nil)
	wrongKey, _ := SignToken(otherKey, websiteClaims())
	with := func(k string, v any) string {
		c := websiteClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return sign(c)
	}
	tampered := good[:strings.LastIndex(good, ".")] + ".AAAA" + good[strings.LastIndex(good, ".")+5:]
	for _, tc := range []struct {
		name, token, reason string
		now                 time.Time
	}{
		{"HS256", hs, "not an RS256 JWS", tokenNow},
		{"ES256", es, "not an RS256 JWS", tokenNow},
		{"wrong key", wrongKey, "signature", tokenNow},
		{"bad signature", tampered, "signature", tokenNow},
		{"not a JWS", "abc.def", "not an RS256 JWS", tokenNow},
		{"empty", "", "missing", tokenNow},
		{"unknown issuer", with("iss", "someone"), "unknown issuer", tokenNow},
		{"no iss", with("iss", nil), "unknown issuer", tokenNow},
		{"no sub", with("sub", nil), "sub is missing", tokenNow},
		{"no actionCode", with("actionCode", nil), "actionCode is missing", tokenNow},
		{"actionCode X", with("actionCode", "X"), "actionCode: N, R or C", tokenNow},
		{"no programId", with("programId", nil), "programId is missing", tokenNow},
		{"programme of another partner", with("programId", "OTHER"), "programId is not", tokenNow},
		{"no iat", with("iat", nil), "iat is missing", tokenNow},
		{"no exp", with("exp", nil), "exp is missing", tokenNow},
		{"lifetime 8.5 h (the seed's example)", with("exp", tokenNow.Add(30600*time.Second).Unix()), "more than 10 minutes", tokenNow},
		{"expired", good, "expired", tokenNow.Add(10 * time.Minute)},
		{"iat in the future", with("iat", tokenNow.Add(time.Hour).Unix()), "exp is not after iat", tokenNow},
		{"bad language", with("language", "english"), "language", tokenNow},
		{"bad confirmationUrl", with("confirmationUrl", "ftp://x"), "confirmationUrl", tokenNow},
		{"too large", strings.Repeat("a", TokenBytesMax+1), "too large", tokenNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyWebsiteToken(tc.token, ps, tc.now)
			if err == nil || !errIsToken(err) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want %q", err, tc.reason)
			}
		})
	}
}

// TestSDKToken is checklist item 2.
func TestSDKToken(t *testing.T) {
	testKeys(t)
	ps := []*Partner{{ID: "demo-partner", Key: &partnerKey.PublicKey}}
	claims := func() map[string]any {
		return map[string]any{"sub": "ext-1", "jti": "j-1", "iat": tokenNow.Unix(), "cardHash": strings.Repeat("ab", 32)}
	}
	cert := selfSigned(t, partnerKey)
	sign := func(k *rsa.PrivateKey, c map[string]any, certs ...[]byte) string {
		tok, err := SignToken(k, c, certs...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(partnerKey, claims(), cert)
	c, err := VerifySDKToken(good, ps, tokenNow.Add(9*time.Minute))
	if err != nil || c.ID != "j-1" || c.Subject != "ext-1" || c.CardHash != strings.Repeat("ab", 32) || c.Partner != "demo-partner" {
		t.Fatalf("%+v %v", c, err)
	}
	without := func(k string) map[string]any { c := claims(); delete(c, k); return c }
	hs, _ := signWith(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, claims(),
		(&jose.SignerOptions{}).WithHeader("x5c", []string{"AAAA"}))
	for _, tc := range []struct {
		name, token, reason string
		now                 time.Time
	}{
		{"accepted at the limit is fine; older than 600 s is not", good, "older than 10 minutes", tokenNow.Add(10*time.Minute + time.Second)},
		{"no x5c", sign(partnerKey, claims()), "x5c header is missing", tokenNow},
		{"no jti", sign(partnerKey, without("jti"), cert), "jti", tokenNow},
		{"no iat", sign(partnerKey, without("iat"), cert), "iat is missing", tokenNow},
		{"no cardHash", sign(partnerKey, without("cardHash"), cert), "cardHash", tokenNow},
		{"HS256", hs, "not an RS256 JWS", tokenNow},
		{"certificate of another key", sign(otherKey, claims(), selfSigned(t, otherKey)), "no partner's", tokenNow},
		{"signed by another key than the certificate's", sign(otherKey, claims(), cert), "signature", tokenNow},
		{"RSA 1024", sign(smallKey, claims(), selfSigned(t, smallKey)), "2048", tokenNow},
		{"iat in the future", sign(partnerKey, map[string]any{"sub": "ext-1", "jti": "j", "iat": tokenNow.Add(time.Hour).Unix(), "cardHash": strings.Repeat("ab", 32)}, cert), "future", tokenNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifySDKToken(tc.token, ps, tc.now)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want %q", err, tc.reason)
			}
		})
	}
}
