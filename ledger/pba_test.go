package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
)

// A batch sees its own Pay by Account writes and deletions; prefix listings merge the committed
// records with the batch's, in key order; nothing reaches the State before Commit.
func TestPBAOverlay(t *testing.T) {
	st := ledger.NewState(journaltest.NewMemory())
	tx := st.Begin()
	tx.PutPBA(ledger.PBARecord{Key: "t/b", Data: []byte("2")})
	tx.PutPBA(ledger.PBARecord{Key: "t/a", Data: []byte("1")})
	if _, ok := st.PBA("t/a"); ok {
		t.Fatal("visible before commit")
	}
	tx.Commit()
	tx = st.Begin()
	tx.PutPBA(ledger.PBARecord{Key: "t/c", Data: []byte("3")})
	tx.DeletePBA("t/a")
	if got := tx.PBAKeys("t/"); len(got) != 2 || got[0] != "t/b" || got[1] != "t/c" {
		t.Fatalf("batch keys %v", got)
	}
	if _, ok := tx.PBA("t/a"); ok {
		t.Fatal("deleted record visible in its batch")
	}
	var changes []ledger.Change
	changes = tx.Changes(changes)
	n := 0
	for _, c := range changes {
		if c.Table == ledger.TablePBA {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("journal changes %d", n)
	}
	tx.Commit()
	if l := st.PBAList("t/"); len(l) != 2 || l[0].Key != "t/b" || string(l[1].Data) != "3" {
		t.Fatalf("committed %+v", l)
	}
}

func TestPBAWindowEncoding(t *testing.T) {
	lo, hi, ok := ledger.DecodePBAWindow(ledger.EncodePBAWindow(7, 65535))
	if !ok || lo != 7 || hi != 65535 {
		t.Fatalf("%d %d %v", lo, hi, ok)
	}
	if _, _, ok := ledger.DecodePBAWindow([]byte{1}); ok {
		t.Fatal("short window accepted")
	}
}
