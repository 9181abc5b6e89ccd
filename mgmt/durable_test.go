package mgmt

import (
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
)

// With a pipelined journal the engine merges a batch into the State before its record is
// durable. While any merged batch is not durable, a read of the API does not answer (it would
// show what a crash could take back); once the flush is done it answers, and shows the change.
func TestReadsWaitForTheDurabilityOfWhatTheyShow(t *testing.T) {
	var g *journaltest.Gated
	h := newHarnessOver(t, func(j journal.Journal) journal.Journal { g = journaltest.NewGated(j); return g })
	// On a failure, every flush completes, so that the engine can stop (cleanups run in reverse).
	t.Cleanup(func() { g.Open(1 << 62) })
	// flushUntil completes the flushes of whatever is written (the expiry tick may write
	// batches of its own) until ch has an answer.
	flushUntil := func(ch <-chan resp) resp {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			g.OpenAll()
			select {
			case r := <-ch:
				return r
			case <-time.After(5 * time.Millisecond):
			case <-deadline:
				t.Fatal("no answer with every flush done")
			}
		}
	}

	created := make(chan resp, 1)
	go func() {
		created <- h.do("POST", "/secure/customers", `{"externalId":"p-1","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+441234567"}`)
	}()
	r := flushUntil(created)
	expect(t, r, 201)
	cust := r.str(t, "customerId")

	kyc := make(chan resp, 1)
	go func() { kyc <- h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"VERIFIED"}`) }()
	for deadline := time.Now().Add(10 * time.Second); h.eng.Durable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the change was never merged")
		}
	}
	// A batch is merged and not durable: a read now waits.
	read := make(chan resp, 1)
	go func() { read <- h.do("GET", "/secure/customers/"+cust, "") }()
	select {
	case r := <-read:
		t.Fatalf("a read answered while a merged batch was not durable: %d %s", r.status, r.body)
	case <-time.After(150 * time.Millisecond):
	}
	expect(t, flushUntil(kyc), 200)
	expect(t, flushUntil(read), 200)
	r = h.do("GET", "/secure/customers/"+cust, "")
	expect(t, r, 200)
	if !strings.Contains(string(r.body), `"kycStatus":"VERIFIED"`) {
		t.Fatalf("the read after the flush: %s", r.body)
	}
}
