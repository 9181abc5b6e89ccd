package ledger

import (
	"errors"
	"hash/maphash"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
)

// Prefetch: a Tx does no I/O. The auth records and replies a batch reads live
// in the journal; the engine asks each operation which of them it will read (Keys), and Load
// reads those that may exist from the journal before the batch is applied. The Tx then reads
// only memory: the records Load brought in, the key sets, and the committed rows. A record a
// batch reads without having loaded it is an error of the operation's Keys (ErrNotLoaded), and
// the batch is refused rather than decided on a record it did not see.

// ErrNotLoaded is the error of a batch that read an auth record, reply or time index that may
// exist but was not loaded before the batch was applied.
var ErrNotLoaded = errors.New("ledger: record read by a batch without being loaded first")

// Keys names what one operation reads of the records kept in the journal. The engine reuses a
// Keys for every operation (Reset).
type Keys struct {
	Auths   []string // auth records by key
	Replies []string // replies by key
	// ExpireMax > 0: the operation runs ExpireHolds(env, ExpireMax) at the batch's time.
	ExpireMax int
	// PruneMax > 0: the operation runs Prune(PruneBeforeNanos, PruneMax).
	PruneBeforeNanos int64
	PruneMax         int

	reqs []*authz.Request // money messages: their keys are built only when a record may exist
}

// Reset empties k for the next operation, keeping its arrays.
func (k *Keys) Reset() {
	clear(k.Auths) // drop the strings for the GC
	clear(k.Replies)
	clear(k.reqs)
	*k = Keys{Auths: k.Auths[:0], Replies: k.Replies[:0], reqs: k.reqs[:0]}
}

// KeysOf adds what Process and AccountOf read for a money message: the reply under its
// message key, the auth record under its original key and, for a completion or reversal, the
// auth record its field 90 names. It allocates nothing: the keys are built by Load, and only
// for records that may exist.
func KeysOf(req *authz.Request, dst *Keys) { dst.reqs = append(dst.reqs, req) }

// ReloadKeys adds what Reload reads: the remembered answer of its idempotency key.
func ReloadKeys(balanceID, idempotencyKey string, dst *Keys) {
	if idempotencyKey != "" {
		dst.Replies = append(dst.Replies, reloadKey(balanceID, idempotencyKey))
	}
}

func reloadKey(balanceID, idempotencyKey string) string {
	return "reload|" + balanceID + "|" + idempotencyKey
}

// Load reads into the Tx the records k names that the batch has not loaded yet and that may
// exist (the key sets say which), and the due rows of the time indexes with the records their
// entries name. It is the only reader of the History while a batch is applied. On an error the
// operation that asked for k must not be applied; what was loaded is committed data and stays
// valid for the rest of the batch.
func (tx *Tx) Load(k *Keys, env *Env) error {
	var b keyParts
	for _, req := range k.reqs {
		b.message(req)
		if err := tx.replyBase.loadParts(&b); err != nil {
			return err
		}
		b.original(req.BaseMTI, req.STAN, req.F7, req.AcquirerID)
		if err := tx.authBase.loadParts(&b); err != nil {
			return err
		}
		if o := req.Original; o != nil {
			b.original(o.MTI, o.STAN, o.F7, o.AcquirerID)
			if err := tx.authBase.loadParts(&b); err != nil {
				return err
			}
		}
	}
	for _, key := range k.Auths {
		if err := tx.authBase.load(key); err != nil {
			return err
		}
	}
	for _, key := range k.Replies {
		if err := tx.replyBase.load(key); err != nil {
			return err
		}
	}
	if k.ExpireMax > 0 {
		now := env.Now.UnixNano()
		if err := tx.loadDue(TableExpiry, func(at int64) bool { return at <= now }, k.ExpireMax); err != nil {
			return err
		}
	}
	if k.PruneMax > 0 {
		cutoff := k.PruneBeforeNanos
		if err := tx.loadDue(TableAging, func(at int64) bool { return at < cutoff }, k.PruneMax); err != nil {
			return err
		}
	}
	return nil
}

// load reads the committed record under key unless the batch knows it already or the key set
// says there is none.
func (b *coldBase[T]) load(key string) error {
	if _, ok := b.known[key]; ok {
		return nil
	}
	if !b.keys.has(b.tx.s.cold.hash(key)) {
		return nil
	}
	return b.read(key)
}

// loadParts is load for a key given in parts: the key is built only when a record may exist
// (a new message, the usual case, allocates nothing).
func (b *coldBase[T]) loadParts(p *keyParts) error {
	c := b.tx.s.cold
	var h uint64
	if c.hashFn != nil {
		h = c.hashFn(p.join())
	} else {
		var mh maphash.Hash
		mh.SetSeed(c.seed)
		for _, s := range p.p[:p.n] {
			mh.WriteString(s)
		}
		h = mh.Sum64()
	}
	if !b.keys.has(h) {
		return nil
	}
	key := p.join()
	if _, ok := b.known[key]; ok {
		return nil
	}
	return b.read(key)
}

// read is the journal read of one record (Load only).
func (b *coldBase[T]) read(key string) error {
	v, ok, err := b.readFn(key)
	if err != nil {
		return err
	}
	b.known[key] = ok
	if !ok {
		return nil
	}
	b.loaded[key] = v
	if a, isAuth := any(&v).(*Auth); isAuth && a.State == AuthOpen && a.HeldMinor != 0 {
		b.heldAt[key] = a.ExpiresAtUnixNano
	}
	return nil
}

// keyParts holds the parts of a message key or original key, whose concatenation is the key
// (MessageKey, OriginalKey): hashed part by part, joined only when needed.
type keyParts struct {
	p [10]string
	n int
}

const zeros11 = "00000000000"

func (p *keyParts) add(s ...string) {
	for _, v := range s {
		p.p[p.n] = v
		p.n++
	}
}

func (p *keyParts) join() string { return strings.Join(p.p[:p.n], "") }

// original sets p to OriginalKey(baseMTI(mti), stan, f7, acquirer).
func (p *keyParts) original(mti, stan, f7, acquirer string) {
	p.n = 0
	if len(mti) == 4 && mti[3] == '1' {
		p.add(mti[:3], "0")
	} else {
		p.add(mti)
	}
	p.add("|", stan, "|", f7, "|")
	if len(acquirer) < 11 {
		p.add(zeros11[:11-len(acquirer)])
	}
	p.add(acquirer)
}

// message sets p to MessageKey(req).
func (p *keyParts) message(req *authz.Request) {
	p.original(req.BaseMTI, req.STAN, req.F7, req.AcquirerID)
	p.add("|", req.RRN)
}

// loadDue reads the first rows of a time index, when its earliest entry is due, and the
// records named by the due entries a scan of up to max entries takes (dueCold).
func (tx *Tx) loadDue(table string, due func(at int64) bool, max int) error {
	if !due(tx.indexBound(table)) {
		return nil
	}
	rows, ok := tx.indexRows[table]
	if !ok {
		var err error
		if rows, err = tx.s.cold.h.ReadIndex(table, scanRows); err != nil {
			return err
		}
		tx.indexRows[table] = rows
	}
	// Replay the scans the batch will run (dueCold): each takes whole rows, from where the one
	// before stopped, until it holds max entries.
	tx.dueMax[table] = append(tx.dueMax[table], max)
	next := 0
	for _, max := range tx.dueMax[table] {
		seen := map[string]bool{}
		for ; next < len(rows); next++ {
			row := &rows[next]
			at, _, ok := parseIndexKey(row.Key)
			if !ok {
				continue
			}
			if !due(at) || len(seen) >= max {
				break
			}
			for _, e := range row.Entries {
				if !due(e.AtUnixNano) || seen[e.Key] {
					continue
				}
				seen[e.Key] = true
				var err error
				if table == TableExpiry || e.Auth {
					err = tx.authBase.load(e.Key)
				} else {
					err = tx.replyBase.load(e.Key)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}
