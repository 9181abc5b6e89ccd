package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

// Data-key rotation (operations guide): move the old key to previousDataKeys, set a new dataKey
// with a new id, restart. The switch serves at once, re-encrypts the store in the background, and
// afterwards runs with the new key alone: cards are still found, retransmissions still recognised.
func TestDataKeyRotationOnline(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c := s.provision(10000)
	first := s.req("0100", "000000", c, 1200)
	if r := s.send(first); r.ResponseCode != "00" {
		t.Fatal(r.ResponseCode)
	}
	oldKey := s.app.Config().Security.DataKey
	s.stop()

	b := make([]byte, 32)
	rand.Read(b)
	newKey := hex.EncodeToString(b)
	rotated := func(withOld bool) *sw {
		cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Security.DataKey, cfg.Security.DataKeyID = newKey, 1
		if withOld {
			cfg.Security.PreviousDataKeys = []config.DataKey{{ID: 0, Key: oldKey}}
		}
		a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s := &sw{t: t, app: a, dir: dir, hash: s.hash}
		s.stan.Store(time.Now().UnixNano() % 400000)
		s.connect()
		t.Cleanup(s.stop)
		return s
	}
	s = rotated(true)
	if r := s.send(s.req("0100", "000000", c, 300)); r.ResponseCode != "00" {
		t.Fatalf("during rotation: 39=%s", r.ResponseCode)
	}
	select {
	case <-s.app.RotationDone():
	case <-time.After(20 * time.Second):
		t.Fatal("re-encryption did not finish")
	}
	s.stop()

	s = rotated(false) // the old key is gone from the configuration
	if b := s.balance(c.balanceID); b.HeldMinor != 1500 {
		t.Fatalf("after rotation: %+v", b)
	}
	if r := s.send(first); r.ResponseCode != "00" {
		t.Fatalf("retransmission after rotation: 39=%s", r.ResponseCode)
	}
	if r := s.send(s.req("0100", "000000", c, 100)); r.ResponseCode != "00" {
		t.Fatalf("new authorization after rotation: 39=%s", r.ResponseCode)
	}
}
