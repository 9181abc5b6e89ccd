package ledger

import (
	"encoding/binary"
	"sort"
	"strings"
)

// Pay by Account (package pba) keeps its own records (bank users, IBAN links, device
// installations, payment tokens, job steps, device messages) in the ledger, so that a change to
// them is in the same batch, and the same durable write, as the money rows and the audit entry it
// goes with: digitizing an IBAN creates the user's customer, the IBAN's balance, the account card
// and the token together or not at all. The ledger does not interpret these records: a PBARecord
// is a key and an opaque value that package pba encodes (docs/pba.md). Like every row they are
// sealed under the data key at rest.
//
// One record is read here: the ATC window of a device token (PBAWindowKey), which the
// authorization path checks (pbaATCDelivered).

// TablePBA is the journal table of Pay by Account records.
const TablePBA = "pba"

// PBARecord is one Pay by Account record.
type PBARecord struct {
	Key  string
	Data []byte
}

// pbaStore is the State's Pay by Account records: by key, and the keys in order for prefix
// listings. Only the engine goroutine writes it (in Commit, under State.mu).
type pbaStore struct {
	byKey map[string][]byte
	keys  []string // sorted
}

func newPBAStore() *pbaStore { return &pbaStore{byKey: map[string][]byte{}} }

func (s *pbaStore) get(key string) (PBARecord, bool) {
	d, ok := s.byKey[key]
	if !ok {
		return PBARecord{}, false
	}
	return PBARecord{Key: key, Data: d}, true
}

func (s *pbaStore) set(r *PBARecord) {
	if _, ok := s.byKey[r.Key]; !ok {
		i := sort.SearchStrings(s.keys, r.Key)
		s.keys = append(s.keys, "")
		copy(s.keys[i+1:], s.keys[i:])
		s.keys[i] = r.Key
	}
	s.byKey[r.Key] = append([]byte(nil), r.Data...)
}

func (s *pbaStore) del(key string) {
	if _, ok := s.byKey[key]; !ok {
		return
	}
	delete(s.byKey, key)
	i := sort.SearchStrings(s.keys, key)
	if i < len(s.keys) && s.keys[i] == key {
		s.keys = append(s.keys[:i], s.keys[i+1:]...)
	}
}

// prefix lists the committed keys starting with p, in order.
func (s *pbaStore) prefix(p string) []string {
	i := sort.SearchStrings(s.keys, p)
	var out []string
	for ; i < len(s.keys) && strings.HasPrefix(s.keys[i], p); i++ {
		out = append(out, s.keys[i])
	}
	return out
}

// PBA returns a Pay by Account record as the batch sees it.
func (tx *Tx) PBA(key string) (PBARecord, bool) { return tx.pba.get(key) }

// PutPBA writes a Pay by Account record in the batch.
func (tx *Tx) PutPBA(r PBARecord) {
	r.Data = append([]byte(nil), r.Data...)
	tx.pba.put(r.Key, r)
}

// DeletePBA deletes a Pay by Account record in the batch.
func (tx *Tx) DeletePBA(key string) { tx.pba.del(key) }

// PBAKeys lists the keys starting with prefix as the batch sees them (committed and written in
// the batch, without those it deleted), in order.
func (tx *Tx) PBAKeys(prefix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range tx.s.pba.prefix(prefix) {
		seen[k] = true
		if _, ok := tx.pba.get(k); ok {
			out = append(out, k)
		}
	}
	for _, k := range tx.pba.order {
		if !seen[k] && strings.HasPrefix(k, prefix) && tx.pba.dirty[k] != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// PBA returns a committed Pay by Account record (queries).
func (s *State) PBA(key string) (PBARecord, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.pba.get(key)
	if ok {
		r.Data = append([]byte(nil), r.Data...)
	}
	return r, ok
}

// PBAList returns the committed records whose keys start with prefix, in key order (queries).
func (s *State) PBAList(prefix string) []PBARecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := s.pba.prefix(prefix)
	out := make([]PBARecord, 0, len(keys))
	for _, k := range keys {
		out = append(out, PBARecord{Key: k, Data: append([]byte(nil), s.pba.byKey[k]...)})
	}
	return out
}

// pbaOverlayBase adapts the store to the overlay's base.
type pbaOverlayBase struct{ s *pbaStore }

func (b pbaOverlayBase) get(key string) (PBARecord, bool) { return b.s.get(key) }

// mergePBA stores the batch's Pay by Account records, deletions included.
func mergePBA(o *overlay[PBARecord], s *pbaStore) {
	for _, k := range o.order {
		if v := o.dirty[k]; v != nil {
			s.set(v)
		} else {
			s.del(k)
		}
	}
}

// PBAWindowKey is the key of a device token's ATC window record: the application transaction
// counters whose session keys were delivered to the device (package pba writes it with
// EncodePBAWindow).
func PBAWindowKey(tokenID string) string { return "w/" + tokenID }

// EncodePBAWindow encodes an ATC window [lowATC, highATC].
func EncodePBAWindow(lowATC, highATC int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], uint32(lowATC))
	binary.BigEndian.PutUint32(b[4:], uint32(highATC))
	return b[:]
}

// DecodePBAWindow decodes an ATC window; ok is false for a value that is not one.
func DecodePBAWindow(b []byte) (lowATC, highATC int, ok bool) {
	if len(b) != 8 {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(b[:4])), int(binary.BigEndian.Uint32(b[4:])), true
}

// PBAWalletPrefix starts the WalletProvider of every Pay by Account token.
const PBAWalletPrefix = "PBA:"

// pbaATCDelivered reports whether a checked ARQC's ATC may be accepted for the token: a Pay by
// Account token only inside the window of session keys the switch delivered to its device (none
// delivered: no ATC). A device holds no key for another ATC, so a cryptogram outside it means
// keys that did not come from the switch, or a window withdrawn since (a suspension). Tokens of
// other services are not restricted here.
func (tx *Tx) pbaATCDelivered(t *Token, atc int) bool {
	if t == nil || !strings.HasPrefix(t.WalletProvider, PBAWalletPrefix) {
		return true
	}
	r, ok := tx.PBA(PBAWindowKey(t.ID))
	if !ok {
		return false
	}
	lo, hi, ok := DecodePBAWindow(r.Data)
	return ok && atc >= lo && atc <= hi
}

// tokensOnlyCard reports whether a card found by its own number is an internal account record of
// a program used only for tokens (Pay by Account): such a card never authorizes by its own
// number, only through its tokens, so its number reads as unknown.
func tokensOnlyCard(env *Env, c *Card) bool {
	if env.Program == nil {
		return false
	}
	p, ok := env.Program(c.Program)
	return ok && p.TokensOnly
}

// PBANewTransactionPrefix starts the keys of the marks of decided authorizations with Pay by
// Account tokens: package pba turns each into a newTransaction message to the user's devices
// (seed: pushTransactionDetails) and deletes it. The mark's value is the token id.
const PBANewTransactionPrefix = "nt/"

// pbaNoteAuthorization marks a decided authorization made with a Pay by Account token, in its
// batch: the message to the device then cannot be lost, whatever happens after the answer.
func (tx *Tx) pbaNoteAuthorization(t *Token, authKey string) {
	if t == nil || !strings.HasPrefix(t.WalletProvider, PBAWalletPrefix) {
		return
	}
	tx.PutPBA(PBARecord{Key: PBANewTransactionPrefix + authKey, Data: []byte(t.ID)})
}
