//go:build !invariants

package ledger

// Invariants reports whether this build checks the money invariants after every batch (build
// tag invariants; the tests use it, production does not pay for it).
const Invariants = false

// AssertBatch checks the money invariants over a batch's changes before they are made durable;
// without the invariants build tag it does nothing and is compiled away.
func AssertBatch(*Tx, []Change) {}
