package codec

import (
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
)

// Contract §2: 0410 echoes field 90, including a forwarding institution ID other than zeros.
func TestField90EchoKeepsForwardingID(t *testing.T) {
	orig := &authz.OriginalData{MTI: "0100", STAN: "000123", F7: "1122101530", AcquirerID: "12345", ForwardingID: "00000098765"}
	msg, err := BuildRequest(&authz.Request{MTI: "0400", PAN: "5351100000001234", ProcessingCode: "000000",
		AmountMinor: 100, HasAmount: true, F7: "1122101531", STAN: "000124", CurrencyNum: "978", Original: orig})
	if err != nil {
		t.Fatal(err)
	}
	req, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(req, authz.Response{Action: authz.Approved})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	f90, _ := resp.Field(90)
	if want := "0100000123112210153000000012345" + "00000098765"; f90 != want || !strings.HasSuffix(f90, orig.ForwardingID) {
		t.Fatalf("field 90 = %q, want %q", f90, want)
	}
}
