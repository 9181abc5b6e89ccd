package mgmt

import (
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
)

// With a pipelined journal the engine merges a batch into the State before its record is
// durable. A read of the API must not show it until it is: the answer waits for the flush
// (Engine.AwaitDurable), and then shows the change.
func TestReadsWaitForTheDurabilityOfWhatTheyShow(t *testing.T) {
	var g *journaltest.Gated
	h := newHarnessOver(t, func(j journal.Journal) journal.Journal { g = journaltest.NewGated(j); return g })
	// On a failure, every flush completes, so that the engine can stop (cleanups run in reverse).
	t.Cleanup(func() { g.Open(1 << 62) })

	created := make(chan resp, 1)
	go func() {
		created <- h.do("POST", "/secure/customers", `{"externalId":"p-1","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+441234567"}`)
	}()
	g.WaitAppended(t, 1)
	g.Open(1)
	r := <-created
	expect(t, r, 201)
	cust := r.str(t, "customerId")

	kyc := make(chan resp, 1)
	go func() { kyc <- h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"VERIFIED"}`) }()
	g.WaitAppended(t, 2) // merged into the State, not durable
	read := make(chan resp, 1)
	go func() { read <- h.do("GET", "/secure/customers/"+cust, "") }()
	select {
	case r := <-read:
		t.Fatalf("a read answered while what it may show was not durable: %d %s", r.status, r.body)
	case r := <-kyc:
		t.Fatalf("the change was answered before it was durable: %d %s", r.status, r.body)
	case <-time.After(150 * time.Millisecond):
	}
	g.Open(2)
	expect(t, <-kyc, 200)
	r = <-read
	expect(t, r, 200)
	if !strings.Contains(string(r.body), `"kycStatus":"VERIFIED"`) {
		t.Fatalf("the read after the flush: %s", r.body)
	}
}
