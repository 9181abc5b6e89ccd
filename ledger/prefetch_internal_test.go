package ledger

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
)

// The keys Load builds in parts are the keys Process reads.
func TestKeyPartsAreTheKeys(t *testing.T) {
	for _, r := range []*authz.Request{
		{BaseMTI: "0100", STAN: "000001", F7: "0501120000", AcquirerID: "12345", RRN: "000000000001"},
		{BaseMTI: "0200", STAN: "123456", F7: "0501120000", AcquirerID: "12345678901", RRN: "x"},
		{BaseMTI: "0400", STAN: "000002", F7: "0501120000", AcquirerID: "123456789012", RRN: "",
			Original: &authz.OriginalData{MTI: "0101", STAN: "000001", F7: "0501115959", AcquirerID: "00000012345"}},
		{BaseMTI: "0220", STAN: "000003", F7: "0501120000", AcquirerID: "",
			Original: &authz.OriginalData{MTI: "0100", STAN: "000001", F7: "0501115959", AcquirerID: "7"}},
	} {
		var p keyParts
		if p.message(r); p.join() != MessageKey(r) {
			t.Errorf("message key %q, want %q", p.join(), MessageKey(r))
		}
		if p.original(r.BaseMTI, r.STAN, r.F7, r.AcquirerID); p.join() != OriginalKey(r.BaseMTI, r.STAN, r.F7, r.AcquirerID) {
			t.Errorf("original key %q", p.join())
		}
		if o := r.Original; o != nil {
			want, _ := originalKeyOf(r)
			if p.original(o.MTI, o.STAN, o.F7, o.AcquirerID); p.join() != want {
				t.Errorf("field 90 key %q, want %q", p.join(), want)
			}
		}
	}
}
