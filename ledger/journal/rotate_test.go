package journal_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Data-key rotation online: after RotateDataKey new commits are sealed under the new key, and
// Reencrypt rewrites the stored values step by step while commits go on; at the end the store
// loads with the new key alone, and no longer with the old one.
func TestBadgerRotateDataKey(t *testing.T) {
	dir, oldKey, newKey := t.TempDir(), newKey(t), newKey(t)
	j := open(t, dir, oldKey)
	f := populate(t, j)
	if err := j.RotateDataKey(0, newKey); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("rotating to the id in use: %v", err)
	}
	if err := j.RotateDataKey(1, newKey); err != nil {
		t.Fatal(err)
	}
	// Commits continue during the re-encryption (the engine keeps running).
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 30 {
			f.Expect(lt.Auth(secretPAN, 1, fmt.Sprintf("7%05d", i)), authz.Approved)
		}
	}()
	total := 0
	for {
		n, done, err := j.Reencrypt(3)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if done {
			break
		}
	}
	wg.Wait()
	if total == 0 {
		t.Fatal("nothing was re-encrypted")
	}
	if n, done, err := j.Reencrypt(1000); err != nil || !done || n != 0 {
		t.Fatalf("second pass: %d rewritten, done %v, %v; want nothing left", n, done, err)
	}
	want := lt.Take(f.State, cardIDs...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	jn, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: newKey, DataKeyID: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.NewState(jn)
	if err := jn.Load(st); err != nil {
		t.Fatalf("load with the new key alone: %v", err)
	}
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("state after rotation differs:\n%s", d)
	}
	jn.Close()

	jo := open(t, dir, oldKey)
	defer jo.Close()
	if err := jo.Load(ledger.NewState(jo)); err == nil || !strings.Contains(err.Error(), "data key 1") {
		t.Fatalf("load with the old key after rotation: %v, want an error naming data key 1", err)
	}
}
