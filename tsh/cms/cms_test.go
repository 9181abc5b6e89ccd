package cms

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/smallstep/pkcs7"
)

func testKey(t testing.TB, id string, bits int) Key {
	t.Helper()
	k, err := LoadKey(id, filepath.Join("testdata", "rsa"+itoa(bits)+".key"), filepath.Join("testdata", "rsa"+itoa(bits)+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func itoa(n int) string {
	if n == 2048 {
		return "2048"
	}
	return "4096"
}

func testRing(t testing.TB) *Keyring {
	t.Helper()
	r, err := NewKeyring(testKey(t, "k2048", 2048), testKey(t, "k4096", 4096))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// The envelopes openssl made (testdata/README.md) open with the key they were made for, both
// paddings and both key sizes: interoperability with the reference implementation.
func TestOpenOpenSSLFixtures(t *testing.T) {
	ring := testRing(t)
	want, _ := os.ReadFile(filepath.Join("testdata", "cardinfo.json"))
	for _, c := range []struct {
		file, key string
		padding   Padding
	}{
		{"pkcs1-rsa2048.der", "k2048", PKCS1v15},
		{"oaep-rsa2048.der", "k2048", OAEPSHA256},
		{"pkcs1-rsa4096.der", "k4096", PKCS1v15},
		{"oaep-rsa4096.der", "k4096", OAEPSHA256},
	} {
		t.Run(c.file, func(t *testing.T) {
			text := fixture(t, c.file)
			got, err := ring.Open(c.key, text)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if string(got) != string(want) {
				t.Fatalf("plaintext %q", got)
			}
			der, _ := base64.StdEncoding.DecodeString(text)
			cert, _ := ring.Cert(c.key)
			if p, err := Inspect(der, cert); err != nil || p != c.padding {
				t.Fatalf("inspect: %v %v, want %v", p, err, c.padding)
			}
		})
	}
}

// Every refusal of contract §5: unknown key, another key, another content algorithm, OAEP over
// SHA-1, truncation, bad base64, a flipped byte.
func TestOpenRefusals(t *testing.T) {
	ring := testRing(t)
	good := fixture(t, "oaep-rsa2048.der")
	der, _ := base64.StdEncoding.DecodeString(good)
	flipped := append([]byte(nil), der...)
	flipped[len(flipped)-5] ^= 0x40
	for _, c := range []struct {
		name, key, text string
		want            error
	}{
		{"unknown key", "nope", good, ErrUnknownKey},
		{"addressed to another key", "k4096", good, ErrCantDecrypt},
		{"aes128 content", "k2048", fixture(t, "aes128-rsa2048.der"), ErrCantDecrypt},
		{"oaep sha1", "k2048", fixture(t, "oaep-sha1-rsa2048.der"), ErrCantDecrypt},
		{"truncated", "k2048", base64.StdEncoding.EncodeToString(der[:len(der)-20]), ErrCantDecrypt},
		{"not base64", "k2048", "%%%not base64%%%", ErrCantDecrypt},
		{"unpadded base64", "k2048", base64.RawStdEncoding.EncodeToString(der[:len(der)-1]), ErrCantDecrypt},
		{"flipped content byte", "k2048", base64.StdEncoding.EncodeToString(flipped), ErrCantDecrypt},
		{"empty", "k2048", "", ErrCantDecrypt},
		{"too long", "k2048", string(make([]byte, MaxEnvelopeChars+1)), ErrCantDecrypt},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ring.Open(c.key, c.text)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v (plaintext %q)", err, c.want, got)
			}
		})
	}
}

// Seal makes envelopes Open reads, and openssl's own checks would: the simulator's envelopes are
// the hub's.
func TestSealRoundTrip(t *testing.T) {
	ring := testRing(t)
	for _, id := range []string{"k2048", "k4096"} {
		for _, p := range []Padding{PKCS1v15, OAEPSHA256} {
			cert, _ := ring.Cert(id)
			text, err := Seal([]byte(`{"cvv":"123"}`), cert, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ring.Open(id, text)
			if err != nil || string(got) != `{"cvv":"123"}` {
				t.Fatalf("%s %v: %q %v", id, p, got, err)
			}
			der, _ := base64.StdEncoding.DecodeString(text)
			if pp, err := Inspect(der, cert); err != nil || pp != p {
				t.Fatalf("inspect %v %v", pp, err)
			}
		}
	}
}

func TestNewKeyringChecks(t *testing.T) {
	k := testKey(t, "a", 2048)
	other := testKey(t, "b", 4096)
	for name, keys := range map[string][]Key{
		"empty id":      {{ID: "", Cert: k.Cert, Priv: k.Priv}},
		"long id":       {{ID: "123456789012345678901234567890123", Cert: k.Cert, Priv: k.Priv}},
		"repeated id":   {k, {ID: "a", Cert: other.Cert, Priv: other.Priv}},
		"cert mismatch": {{ID: "x", Cert: other.Cert, Priv: k.Priv}},
		"no cert":       {{ID: "x", Priv: k.Priv}},
	} {
		if _, err := NewKeyring(keys...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var _ *x509.Certificate = k.Cert
}

// FuzzOpen: whatever the hub sends, Open answers a plaintext or one of its two errors, and never
// panics.
func FuzzOpen(f *testing.F) {
	ring := testRing(f)
	for _, n := range []string{"pkcs1-rsa2048.der", "oaep-rsa2048.der", "aes128-rsa2048.der", "oaep-sha1-rsa2048.der"} {
		b, _ := os.ReadFile(filepath.Join("testdata", n))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := ring.Open("k2048", base64.StdEncoding.EncodeToString(der))
		if err != nil && !errors.Is(err, ErrCantDecrypt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// smallstep/pkcs7 as a second opinion: it opens every fixture to the same plaintext as Open.
func TestFixturesAgreeWithPKCS7Library(t *testing.T) {
	ring := testRing(t)
	for _, c := range []struct{ file, key string }{
		{"pkcs1-rsa2048.der", "k2048"}, {"oaep-rsa2048.der", "k2048"},
		{"pkcs1-rsa4096.der", "k4096"}, {"oaep-rsa4096.der", "k4096"},
	} {
		der, _ := base64.StdEncoding.DecodeString(fixture(t, c.file))
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		k := ring.keys[c.key]
		lib, err := p7.Decrypt(k.Cert, k.Priv)
		if err != nil {
			t.Fatalf("%s: library: %v", c.file, err)
		}
		ours, err := ring.Open(c.key, fixture(t, c.file))
		if err != nil || string(ours) != string(lib) {
			t.Fatalf("%s: ours %q %v, library %q", c.file, ours, err, lib)
		}
	}
}

// The reason Open does not hand the content to the library (package comment): a last byte
// larger than the content makes its unpadding slice out of range. Open refuses the same
// envelope with ErrCantDecrypt.
func TestBadPaddingRefusedWhereLibraryPanics(t *testing.T) {
	ring := testRing(t)
	cert, _ := ring.Cert("k2048")
	k := ring.keys["k2048"]
	// Find an envelope whose content ends in a bad pad byte > 16 by flipping the IV-dependent
	// last block: flip bits of the second-to-last ciphertext block's last byte.
	text, err := Seal([]byte(`{"cvv":"123"}`), cert, OAEPSHA256) // one block of content + pad
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(text)
	e, err := inspect(der, cert)
	if err != nil {
		t.Fatal(err)
	}
	// The content is a single block: its last plaintext byte is iv[15] ^ D(c)[15]; flipping iv
	// bit 0x80 makes the pad byte >= 0x80.
	ivAt := bytes.Index(der, e.iv)
	der[ivAt+15] ^= 0x80
	mangled := base64.StdEncoding.EncodeToString(der)
	if _, err := ring.Open("k2048", mangled); !errors.Is(err, ErrCantDecrypt) {
		t.Fatalf("Open: %v", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		p7.Decrypt(k.Cert, k.Priv)
		return false
	}()
	if !panicked {
		t.Log("smallstep/pkcs7 no longer panics on a bad pad byte: Open could hand it the content again")
	}
}

func TestUnpad(t *testing.T) {
	block := func(tail ...byte) []byte {
		b := make([]byte, 16)
		copy(b[16-len(tail):], tail)
		return b
	}
	for _, c := range []struct {
		b    []byte
		n    int
		good bool
	}{
		{block(1), 15, true},
		{block(2, 2), 14, true},
		{bytes.Repeat([]byte{16}, 16), 0, true},
		{block(0), 0, false},
		{block(1, 2), 0, false},
		{block(17), 0, false},
		{block(0xff), 0, false},
	} {
		n, ok := unpad(c.b)
		if ok != c.good || (ok && n != c.n) {
			t.Errorf("unpad(% x) = %d %v", c.b, n, ok)
		}
	}
}

// BenchmarkOpen: one envelope opened per operation, by key size and padding (the cost of a /tsh
// call's decryption).
func BenchmarkOpen(b *testing.B) {
	ring := testRing(b)
	for _, c := range []struct{ file, key string }{
		{"pkcs1-rsa2048.der", "k2048"}, {"oaep-rsa2048.der", "k2048"},
		{"pkcs1-rsa4096.der", "k4096"}, {"oaep-rsa4096.der", "k4096"},
	} {
		text := fixture(b, c.file)
		b.Run(c.file, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ring.Open(c.key, text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
