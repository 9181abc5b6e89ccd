package jwe

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	fuzzKeyOnce sync.Once
	fuzzServer  *ServerKey
	fuzzClient  *rsa.PrivateKey
)

func fuzzKeys(t testing.TB) (*ServerKey, *rsa.PrivateKey) {
	fuzzKeyOnce.Do(func() {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		if fuzzServer, err = NewServerKey(priv); err != nil {
			panic(err)
		}
		if fuzzClient, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return fuzzServer, fuzzClient
}

// FuzzOpenRequest feeds arbitrary request bodies to the server's decryption (contract §4
// encrypted requests) and arbitrary Public-Key headers to ParseClientKey. Properties: no panic;
// OpenRequest fails only with ErrInvalidPayload or ErrCantDecrypt (the API's INVALID_PAYLOAD and
// CANT_DECRYPT_PAYLOAD, both 400), and succeeds only on a body that is exactly
// {"payload": "<compact JWE>"}; ParseClientKey fails only with ErrInvalidPublicKey and returns
// keys of at least ClientKeyMinBits.
func FuzzOpenRequest(f *testing.F) {
	server, client := fuzzKeys(f)
	good, err := Seal(server.Public(), []byte(`{"pin":"1234"}`), "")
	if err != nil {
		f.Fatal(err)
	}
	envelope := func(s string) []byte { b, _ := json.Marshal(Envelope{Payload: s}); return b }
	rsa15 := func() string {
		e, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA1_5, Key: server.Public()}, nil)
		o, _ := e.Encrypt([]byte("x"))
		s, _ := o.CompactSerialize()
		return s
	}()
	other, _ := Seal(&client.PublicKey, []byte("x"), "")
	hdr, _ := EncodePublicKeyHeader(&client.PublicKey)
	parts := strings.Split(good, ".")
	seeds := []struct {
		body []byte
		key  string
	}{
		{envelope(good), hdr},
		{envelope(rsa15), hdr[:len(hdr)/2]},
		{envelope(other), base64.StdEncoding.EncodeToString([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))},
		{envelope(parts[0] + ".." + parts[2] + "." + parts[3] + "." + parts[4]), ""},
		{envelope(strings.Join(parts[:4], ".")), "%%%"},
		{envelope("a.b.c.d.e"), base64.RawStdEncoding.EncodeToString([]byte("-----BEGIN RSA PUBLIC KEY-----\nMA==\n-----END RSA PUBLIC KEY-----\n"))},
		{[]byte(`{"payload":123}`), "x"},
		{[]byte(`{"payload":"` + good + `","extra":1}`), hdr},
		{[]byte(`{}`), hdr},
		{[]byte(`[]`), hdr},
		{[]byte(``), hdr},
		{envelope(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM"}`)) + "..AAAA.AAAA.AAAA"), hdr},
		{envelope(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM","zip":"DEF"}`)) + ".AAAA.AAAA.AAAA.AAAA"), hdr},
	}
	for _, s := range seeds {
		f.Add(s.body, s.key)
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		plain, err := server.OpenRequest(body)
		switch {
		case err == nil:
			var env map[string]json.RawMessage
			if json.Unmarshal(body, &env) != nil || len(env) != 1 || env["payload"] == nil {
				t.Fatalf("decrypted a body that is not {\"payload\": …}: %q", body)
			}
			_ = plain
		case errors.Is(err, ErrInvalidPayload), errors.Is(err, ErrCantDecrypt):
		default:
			t.Fatalf("OpenRequest error %v is neither ErrInvalidPayload nor ErrCantDecrypt", err)
		}
		pub, err := ParseClientKey(key)
		switch {
		case err == nil:
			if pub.N.BitLen() < ClientKeyMinBits {
				t.Fatalf("accepted a %d-bit client key", pub.N.BitLen())
			}
		case errors.Is(err, ErrInvalidPublicKey):
		default:
			t.Fatalf("ParseClientKey error %v is not ErrInvalidPublicKey", err)
		}
	})
}
