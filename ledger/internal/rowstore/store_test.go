package rowstore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Every slot size class holds a record of its size and none larger, and records past the
// largest class go to their own []byte.
func TestSlotClasses(t *testing.T) {
	for n := 1; n <= maxSlot+1; n++ {
		c := classOf(n)
		if n > maxSlot {
			if c != bigClass {
				t.Fatalf("classOf(%d) = %d, want bigClass", n, c)
			}
			continue
		}
		if classSize[c] < n || classSize[c-1] >= n && c > 1 {
			t.Fatalf("classOf(%d) = %d (size %d, previous %d)", n, c, classSize[c], classSize[c-1])
		}
	}
}

// testRecord is a record of 60 to 160 bytes: an 8-byte header, then a string.
func testRecord(i int) []byte {
	var e Enc
	e.I64(int64(i))
	e.Str(fmt.Sprintf("row-%09d", i) + strings.Repeat("m", i%100))
	return e.B
}

// Rows spread over many chunks of several classes, including the first chunk's growth, read
// back as written.
func TestRowsAcrossChunks(t *testing.T) {
	tab := Store{header: 8}
	const n = 40000 // ~100-byte records: several 1 MiB chunks per class
	for i := range n {
		if row := tab.Add(testRecord(i)); row != uint32(i) {
			t.Fatalf("record %d got row %d", i, row)
		}
	}
	if tab.Len() != n {
		t.Fatalf("size %d, want %d", tab.Len(), n)
	}
	for i := range n {
		if got, want := tab.Rec(uint32(i)), testRecord(i); !bytes.Equal(got, want) {
			t.Fatalf("row %d: got %q, want %q", i, got, want)
		}
	}
	chunks := 0
	for _, c := range tab.class {
		chunks += len(c.chunks)
	}
	if chunks < 4 {
		t.Fatalf("%d chunks: the test does not cross chunk boundaries", chunks)
	}
}

// A rewrite that changes only the header is made in place; one that changes the rest moves the
// row to a new slot (of its class, or past the largest class) and abandons the old slot, whose
// bytes stay as they were for the strings that alias them.
func TestRewriteRow(t *testing.T) {
	tab := Store{header: 8}
	rec := testRecord(4)
	row := tab.Add(rec)
	tab.Add(testRecord(5))
	slot := tab.loc[row]
	old := tab.Rec(row)

	var e Enc
	e.I64(99)
	e.B = append(e.B, rec[8:]...)
	tab.Update(row, e.B)
	if tab.loc[row] != slot || tab.abandoned != 0 || !bytes.Equal(tab.Rec(row), e.B) {
		t.Fatalf("header rewrite: slot %x (was %x), abandoned %d", tab.loc[row], slot, tab.abandoned)
	}
	kept := string(old[8:]) // what a decoded string would alias

	longer := testRecord(4)
	longer = append(longer, strings.Repeat("x", 300)...)
	tab.Update(row, longer)
	if tab.loc[row] == slot || tab.abandoned != len(rec) || !bytes.Equal(tab.Rec(row), longer) {
		t.Fatalf("string rewrite: slot %x (was %x), abandoned %d", tab.loc[row], slot, tab.abandoned)
	}
	if string(old[8:]) != kept {
		t.Fatal("the abandoned slot was overwritten")
	}
	big := append(testRecord(4), strings.Repeat("x", maxSlot)...) // past the largest class
	tab.Update(row, big)
	if class, _ := splitHandle(tab.loc[row]); class != bigClass || !bytes.Equal(tab.Rec(row), big) {
		t.Fatal("big record not read back")
	}
	if !bytes.Equal(tab.Rec(row+1), testRecord(5)) {
		t.Fatal("a neighbour changed")
	}
}

// Keys whose hashes collide are all found, through the fallback map, and a key pointed at
// another row of the same key (a card index given to the card issued first) moves there,
// whether it sits in the main map or the fallback one.
func TestIndexCollisions(t *testing.T) {
	ix := NewIndex()
	ix.SetHash(func(string) uint32 { return 7 }) // every key collides
	rows := map[uint32]string{}                  // row -> key (rows keep their key)
	want := map[string]uint32{}                  // key -> the row the index must give
	at := func(row uint32) string { return rows[row] }
	put := func(key string, row uint32) {
		rows[row], want[key] = key, row
		ix.Set(key, row, at)
	}
	for i, k := range []string{"k0", "k1", "k2", "k3", "k4"} {
		put(k, uint32(i))
	}
	check := func(step string) {
		t.Helper()
		if ix.Len() != len(want) {
			t.Fatalf("%s: index holds %d keys, want %d", step, ix.Len(), len(want))
		}
		for k, row := range want {
			if got, ok := ix.Find(k, at); !ok || got != row {
				t.Fatalf("%s: key %s found at %d %v, want %d", step, k, got, ok, row)
			}
		}
	}
	check("insert")
	if len(ix.collide) != 4 {
		t.Fatalf("%d keys in the fallback map, want 4", len(ix.collide))
	}
	put("k0", 10) // the main map's key
	put("k3", 13) // a fallback key
	check("move")
	if _, ok := ix.Find("no such key", at); ok {
		t.Fatal("found a key never inserted")
	}
}

// A Table finds its rows by id; during recovery (SetLoading) every id is taken as new, without
// a lookup. A record that names a row of another table reads back as the id, and a field that
// is a suffix of another reads back as itself.
func TestTableAndReferences(t *testing.T) {
	const header = 2
	owners, items := NewTable(header), NewTable(header)
	enc := func(tab *Table, id, owner, last string) []byte {
		e := tab.Scratch()
		e.U16(Sym("ACTIVE"))
		e.Str(id)
		RefTo(e, &owners, owner)
		Suffix(e, last, id)
		return e.B
	}
	owners.SetLoading(true)
	if row, added := owners.Put("owner-1", enc(&owners, "owner-1", "", "")); row != 0 || !added {
		t.Fatalf("first row %d added %v", row, added)
	}
	owners.SetLoading(false)
	items.Put("item-1", enc(&items, "item-1", "owner-1", "m-1")) // a reference and a suffix
	items.Put("item-2", enc(&items, "item-2", "owner-9", "x"))   // no such owner: spelled out
	if row, added := items.Put("item-1", enc(&items, "item-1", "owner-1", "m-1")); row != 0 || added {
		t.Fatalf("rewrite of item-1: row %d added %v", row, added)
	}
	for _, want := range [][3]string{{"item-1", "owner-1", "m-1"}, {"item-2", "owner-9", "x"}} {
		row, ok := items.FindID(want[0])
		if !ok {
			t.Fatalf("%s not found", want[0])
		}
		d := NewDec(items.Rec(row), 0)
		state, id := SymName(d.U16()), d.Str()
		owner := RefField(&d, &owners)
		last := SuffixField(&d, id)
		if state != "ACTIVE" || id != want[0] || owner != want[1] || last != want[2] {
			t.Fatalf("%s reads back as %s %s %s %s", want[0], state, id, owner, last)
		}
	}
	var spelled Enc // item-1 with its owner's id written out (RefTo without a table)
	spelled.U16(Sym("ACTIVE"))
	spelled.Str("item-1")
	RefTo(&spelled, nil, "owner-1")
	Suffix(&spelled, "m-1", "item-1")
	if r1, _ := items.FindID("item-1"); len(items.Rec(r1)) != len(spelled.B)-len("owner-1") {
		t.Fatalf("item-1 takes %d bytes, want the owner's row number (1 byte) in place of its id (%d bytes spelled out)",
			len(items.Rec(r1)), len(spelled.B))
	}
	if _, ok := items.FindID("item-3"); ok {
		t.Fatal("found an id never stored")
	}
}
