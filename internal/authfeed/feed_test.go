package authfeed

import (
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
)

const pan = "5351100000000012"

func req(i int) *authz.Request {
	return &authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: pan, AmountMinor: int64(i),
		HasAmount: true, CurrencyNum: "978", MCC: "5411", MerchantName: "SHOP " + strings.Repeat("X", 60), MerchantID: "M1"}
}

// TestFeedMasksAndOrders: entries come back oldest first, with the PAN masked to its first 6
// and last 4 digits and long fields cut; the ring keeps only the newest.
func TestFeedMasksAndOrders(t *testing.T) {
	f := New(4)
	at := time.Unix(1_700_000_000, 0)
	for i := 1; i <= 6; i++ {
		f.Decided(req(i), authz.InsufficientFunds, at, 2*time.Millisecond)
	}
	f.Decided(&authz.Request{Kind: authz.KindNetworkMgmt, PAN: pan}, authz.Approved, at, 0)
	got, last := f.Since(0, 0)
	if last != 6 || len(got) != 4 || got[0].Seq != 3 || got[3].Seq != 6 {
		t.Fatalf("last %d, entries %+v", last, got)
	}
	e := got[3]
	if e.MaskedPAN != "535110******0012" || e.AmountMinor != 6 || e.CurrencyNum != "978" || e.MCC != "5411" ||
		len(e.MerchantName) != merchantBytesMax || e.ActionCode != authz.InsufficientFunds.String() || e.ResponseCode != authz.InsufficientFunds.Field39() || e.Approved || e.LatencyMicro != 2000 || e.MTI != "0100" {
		t.Fatalf("entry %+v", e)
	}
	if got, _ := f.Since(5, 0); len(got) != 1 || got[0].Seq != 6 {
		t.Fatalf("since 5: %+v", got)
	}
	if got, _ := f.Since(0, 2); len(got) != 2 || got[0].Seq != 5 {
		t.Fatalf("max 2: %+v", got)
	}
	if got, _ := f.Since(6, 0); len(got) != 0 {
		t.Fatalf("since the last: %+v", got)
	}
}

// TestMaskInto: one row per length class; never more than 6+4 digits shown.
func TestMaskInto(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"123456789012", "************"},
		{"1234567890123", "123456***0123"},
		{"5351100000000012", "535110******0012"},
		{"1234567890123456789", "123456*********6789"},
		{"12345678901234567890123", "123456*********0123"}, // cut to 19, the real last 4 kept
	} {
		var b [panBytesMax]byte
		n := maskInto(&b, c.in)
		if got := string(b[:n]); got != c.want {
			t.Errorf("maskInto(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestDecidedAllocatesNothing: the tap runs on the ISO answer path.
func TestDecidedAllocatesNothing(t *testing.T) {
	f := New(0)
	r := req(1)
	at := time.Now()
	if n := testing.AllocsPerRun(1000, func() { f.Decided(r, authz.Approved, at, time.Millisecond) }); n != 0 {
		t.Fatalf("Decided allocates %v times", n)
	}
}
