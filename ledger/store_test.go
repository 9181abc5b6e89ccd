package ledger

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
	var e recEnc
	e.i64(int64(i))
	e.str(fmt.Sprintf("row-%09d", i) + strings.Repeat("m", i%100))
	return e.b
}

// Rows spread over many chunks of several classes, including the first chunk's growth, read
// back as written.
func TestRowsAcrossChunks(t *testing.T) {
	tab := rowStore{header: 8}
	const n = 40000 // ~100-byte records: several 1 MiB chunks per class
	for i := range n {
		if row := tab.add(testRecord(i)); row != uint32(i) {
			t.Fatalf("record %d got row %d", i, row)
		}
	}
	if tab.size() != n {
		t.Fatalf("size %d, want %d", tab.size(), n)
	}
	for i := range n {
		if got, want := tab.rec(uint32(i)), testRecord(i); !bytes.Equal(got, want) {
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
	tab := rowStore{header: 8}
	rec := testRecord(4)
	row := tab.add(rec)
	tab.add(testRecord(5))
	slot := tab.loc[row]
	old := tab.rec(row)

	var e recEnc
	e.i64(99)
	e.b = append(e.b, rec[8:]...)
	tab.update(row, e.b)
	if tab.loc[row] != slot || tab.abandoned != 0 || !bytes.Equal(tab.rec(row), e.b) {
		t.Fatalf("header rewrite: slot %x (was %x), abandoned %d", tab.loc[row], slot, tab.abandoned)
	}
	kept := string(old[8:]) // what a decoded string would alias

	longer := testRecord(4)
	longer = append(longer, strings.Repeat("x", 300)...)
	tab.update(row, longer)
	if tab.loc[row] == slot || tab.abandoned != len(rec) || !bytes.Equal(tab.rec(row), longer) {
		t.Fatalf("string rewrite: slot %x (was %x), abandoned %d", tab.loc[row], slot, tab.abandoned)
	}
	if string(old[8:]) != kept {
		t.Fatal("the abandoned slot was overwritten")
	}
	big := append(testRecord(4), strings.Repeat("x", maxSlot)...) // past the largest class
	tab.update(row, big)
	if class, _ := splitHandle(tab.loc[row]); class != bigClass || !bytes.Equal(tab.rec(row), big) {
		t.Fatal("big record not read back")
	}
	if !bytes.Equal(tab.rec(row+1), testRecord(5)) {
		t.Fatal("a neighbour changed")
	}
}

// Keys whose hashes collide are all found, through the fallback map, and a key pointed at
// another row of the same key (a card index given to the card issued first) moves there,
// whether it sits in the main map or the fallback one.
func TestIndexCollisions(t *testing.T) {
	ix := newIndex()
	ix.hash = func(string) uint32 { return 7 } // every key collides
	rows := map[uint32]string{}                // row -> key (rows keep their key)
	want := map[string]uint32{}                // key -> the row the index must give
	at := func(row uint32) string { return rows[row] }
	put := func(key string, row uint32) {
		rows[row], want[key] = key, row
		ix.set(key, row, at)
	}
	for i, k := range []string{"k0", "k1", "k2", "k3", "k4"} {
		put(k, uint32(i))
	}
	check := func(step string) {
		t.Helper()
		if ix.len() != len(want) {
			t.Fatalf("%s: index holds %d keys, want %d", step, ix.len(), len(want))
		}
		for k, row := range want {
			if got, ok := ix.find(k, at); !ok || got != row {
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
	if _, ok := ix.find("no such key", at); ok {
		t.Fatal("found a key never inserted")
	}
}
