package journal_test

import (
	"bytes"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

// Pay by Account records (ledger/pba.go) are stored, sealed, deleted and loaded back like every
// row; a record deleted in a later batch does not come back at start.
func TestPBARecordsPersist(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	j := open(t, dir, key)
	err := j.Commit([]ledger.Change{
		{Table: ledger.TablePBA, Key: "u/bank/alice", Row: &ledger.PBARecord{Key: "u/bank/alice", Data: []byte(`{"sub":"alice"}`)}},
		{Table: ledger.TablePBA, Key: "ut/bank/alice/pt_1", Row: &ledger.PBARecord{Key: "ut/bank/alice/pt_1"}},
		{Table: ledger.TablePBA, Key: "w/pt_1", Row: &ledger.PBARecord{Key: "w/pt_1", Data: ledger.EncodePBAWindow(1, 10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit([]ledger.Change{{Table: ledger.TablePBA, Key: "w/pt_1"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = open(t, dir, key)
	defer j.Close()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	r, ok := st.PBA("u/bank/alice")
	if !ok || string(r.Data) != `{"sub":"alice"}` {
		t.Fatalf("user record %+v %v", r, ok)
	}
	if _, ok := st.PBA("w/pt_1"); ok {
		t.Fatal("deleted record loaded back")
	}
	if l := st.PBAList("ut/bank/alice/"); len(l) != 1 || l[0].Key != "ut/bank/alice/pt_1" {
		t.Fatalf("prefix list %+v", l)
	}
}
