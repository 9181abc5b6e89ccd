package pancrypt

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	e, err := Seal(&k.PublicKey, []byte("5555444433332222"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.JSON(), "5555444433332222") {
		t.Fatal("clear PAN in the envelope")
	}
	p, err := Parse([]byte(e.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(k, p)
	if err != nil || string(got) != "5555444433332222" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := Open(other, p); err != ErrEnvelope {
		t.Fatalf("other key: %v", err)
	}
	bad := p
	bad.Data = bad.Data[:len(bad.Data)-4] + "AAA="
	if _, err := Open(k, bad); err != ErrEnvelope {
		t.Fatalf("tampered: %v", err)
	}
	for _, raw := range []string{"", "{}", `{"key":"x"}`, "not json", `{"key":"a","data":"` + strings.Repeat("A", MaxEnvelopeBytes) + `"}`} {
		if _, err := Parse([]byte(raw)); err != ErrEnvelope {
			t.Errorf("%.20q parsed", raw)
		}
	}
}
