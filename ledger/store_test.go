package ledger

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
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

func testAuth(i int) Auth {
	return Auth{Key: OriginalKey("0100", fmt.Sprintf("%06d", i), "1122334455", "12345"),
		CardID: fmt.Sprintf("card-%d", i), BalanceID: "bal-1", Kind: authz.KindAuthorization,
		State: AuthOpen, Action: authz.Approved, AmountMinor: int64(i), HeldMinor: int64(i),
		ExpiresAt: int64(i) + 100, CreatedAt: int64(i), Merchant: strings.Repeat("M", i%50), MCC: "5411"}
}

// Rows spread over many chunks of several classes, including the first chunk's growth, read
// back as written.
func TestRowsAcrossChunks(t *testing.T) {
	tab := newAuthTable(&refs{})
	const n = 40000 // ~100-byte records: several 1 MiB chunks per class
	for i := range n {
		a := testAuth(i)
		tab.set(&a)
	}
	if tab.size() != n {
		t.Fatalf("size %d, want %d", tab.size(), n)
	}
	for i := range n {
		want := testAuth(i)
		if got, ok := tab.get(want.Key); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("row %d: got %+v %v, want %+v", i, got, ok, want)
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

// A deleted row frees its slot and its row number; the next row of the same size takes both.
func TestSlotReuseAfterDelete(t *testing.T) {
	tab := newAuthTable(&refs{})
	a, b, c := testAuth(1), testAuth(2), testAuth(3)
	tab.set(&a)
	rowB, _, _ := tab.set(&b)
	slotB := tab.loc[rowB]
	tab.del(b.Key)
	if _, ok := tab.get(b.Key); ok || tab.size() != 1 {
		t.Fatalf("deleted row still found (size %d)", tab.size())
	}
	c.Merchant = b.Merchant // same length: same class
	rowC, _, existed := tab.set(&c)
	if existed || rowC != rowB || tab.loc[rowC] != slotB {
		t.Fatalf("new row %d slot %x, want the freed row %d slot %x", rowC, tab.loc[rowC], rowB, slotB)
	}
	if got, _ := tab.get(c.Key); !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v, want %+v", got, c)
	}
	if got, _ := tab.get(a.Key); !reflect.DeepEqual(got, a) {
		t.Fatalf("neighbour changed: %+v", got)
	}
}

// A rewritten row keeps its row number: in place when it still fits its slot, in a slot of
// another class otherwise, the old slot going back to its class.
func TestRewriteRow(t *testing.T) {
	tab := newAuthTable(&refs{})
	a := testAuth(4)
	row, _, _ := tab.set(&a)
	slot := tab.loc[row]
	a.State, a.HeldMinor = AuthCaptured, 0
	row2, prev, existed := tab.set(&a)
	if !existed || row2 != row || tab.loc[row] != slot || !prev.holds(a.ExpiresAt) {
		t.Fatalf("in-place rewrite: row %d slot %x existed %v prev %+v", row2, tab.loc[row], existed, prev)
	}
	a.Merchant = strings.Repeat("m", 300) // another class
	tab.set(&a)
	if tab.loc[row] == slot {
		t.Fatal("a longer record stayed in its slot")
	}
	if got, _ := tab.get(a.Key); !reflect.DeepEqual(got, a) {
		t.Fatalf("got %+v, want %+v", got, a)
	}
	if class, s := splitHandle(slot); len(tab.class[class].free) != 1 || tab.class[class].free[0] != s {
		t.Fatalf("old slot not freed: %v", tab.class[class].free)
	}
	a.Merchant = strings.Repeat("x", maxSlot) // past the largest class
	tab.set(&a)
	if got, _ := tab.get(a.Key); !reflect.DeepEqual(got, a) {
		t.Fatal("big record not read back")
	}
	tab.del(a.Key)
	if len(tab.bigFree) != 1 || tab.big[tab.bigFree[0]] != nil {
		t.Fatal("big record not freed")
	}
}

// Keys whose hashes collide are all found, through the fallback map, whatever the order of
// inserts and deletes.
func TestIndexCollisions(t *testing.T) {
	tab := newAuthTable(&refs{})
	tab.byKey.hash = func(string) uint32 { return 7 } // every key collides
	auths := make([]Auth, 5)
	for i := range auths {
		auths[i] = testAuth(i)
		tab.set(&auths[i])
	}
	check := func(step string, live ...int) {
		t.Helper()
		if tab.byKey.len() != len(live) || tab.size() != len(live) {
			t.Fatalf("%s: index holds %d keys, table %d rows, want %d", step, tab.byKey.len(), tab.size(), len(live))
		}
		for i := range auths {
			got, ok := tab.get(auths[i].Key)
			want := false
			for _, l := range live {
				want = want || l == i
			}
			if ok != want || ok && !reflect.DeepEqual(got, auths[i]) {
				t.Fatalf("%s: key %d found %v (%+v), want %v", step, i, ok, got, want)
			}
		}
	}
	check("insert", 0, 1, 2, 3, 4)
	if len(tab.byKey.collide) != 4 {
		t.Fatalf("%d keys in the fallback map, want 4", len(tab.byKey.collide))
	}
	tab.del(auths[0].Key) // the one in the main map
	check("delete main", 1, 2, 3, 4)
	auths[0].HeldMinor = 9
	tab.set(&auths[0]) // takes the main map's free entry
	check("reinsert", 0, 1, 2, 3, 4)
	tab.del(auths[3].Key)
	auths[2].State = AuthReversed
	tab.set(&auths[2]) // update of a key in the fallback map
	check("delete and update in fallback", 0, 1, 2, 4)
	tab.del(auths[0].Key)
	tab.set(&auths[3]) // 3 comes back while 1, 2, 4 sit in the fallback map
	tab.del(auths[1].Key)
	check("mixed", 2, 3, 4)
	if _, ok := tab.get("no such key"); ok {
		t.Fatal("found a key never inserted")
	}
}

// A reply round-trips, keeping a nil ICC response nil and an empty one empty.
func TestReplyRoundTrip(t *testing.T) {
	tab := newReplyTable()
	for i, r := range []Reply{
		{Key: "k1", ContentHash: 1, Response: authz.Response{Action: authz.Approved, AuthCode: "ABC123",
			HasBalance: true, AvailableMinor: -5, CurrencyNum: "978", ICCResponse: []byte{0x91, 1, 2}}, At: 7},
		{Key: "k2", Response: authz.Response{Action: authz.InsufficientFunds, ICCResponse: []byte{}}},
		{Key: "k3", CurrentMinor: 10, HeldMinor: 3},
	} {
		tab.set(&r)
		got, ok := tab.get(r.Key)
		if !ok || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", r) {
			t.Fatalf("reply %d: got %#v, want %#v", i, got, r)
		}
	}
}
