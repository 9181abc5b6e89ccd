package ledger

// Tx is a write overlay over the State for one engine batch. Reads see the batch's own writes;
// nothing reaches the State until Commit, which the engine calls only after the batch is durable.
// Rollback (or simply dropping the Tx) discards the batch. A Tx is used by one goroutine.
type Tx struct {
	s *State

	customers overlay[Customer]
	balances  overlay[Balance]
	cards     overlay[Card]
	tokens    overlay[Token]
	// agreements are the stored-credential agreements (agreement.go); newAgreements the keys
	// this batch created.
	agreements    overlay[Agreement]
	newAgreements []string
	auths         overlay[Auth]
	pba           overlay[PBARecord] // Pay by Account records (pba.go)
	loyalty       loyaltyTx          // loyalty members and earnings (loyalty.go)
	replies       overlay[Reply]
	wallets       overlay[WalletToken] // the token service hub's wallet tokens (tsh.go)

	cardByPAN     map[string]string
	newCards      []string // cards this batch put that the State does not hold (CardIDsOfBalance)
	tokenByPAN    map[string]string
	customerByExt map[string]string
	scratch       resolved // Process's resolved card, reused (see original)

	// History mode (history.go).
	authBase       *coldBase[Auth]
	replyBase      *coldBase[Reply]
	index          []Change              // index rows this batch writes or deletes
	touched        map[string]bool       // index rows a scan of this batch took
	bounds         map[string]int64      // earliest entry of an index table after this batch's scans
	deletedEntries map[string]int        // entries of the aging rows this batch deletes (metrics)
	indexRows      map[string][]IndexRow // the first rows of each time index, read by Load
	dueMax         map[string][]int      // the scans Load read each time index for (their max)
	prepared       bool                  // Changes has settled the committed existence of every key
	err            error                 // ErrNotLoaded: the batch must not be committed
	archived       map[string]bool       // auth records this batch deletes as archived (archiving.go)

	// Events and audit records of the batch (events.go), and the batch's time they carry.
	events []Event
	audits []AuditRecord
	now    int64
}

type overlay[T any] struct {
	base  interface{ get(string) (T, bool) }
	dirty map[string]*T // nil value: deleted
	order []string      // keys in first-write order, for a deterministic journal
}

func (o *overlay[T]) get(id string) (T, bool) {
	if v, ok := o.dirty[id]; ok {
		if v == nil {
			var zero T
			return zero, false
		}
		return *v, true
	}
	return o.base.get(id)
}

func (o *overlay[T]) put(id string, v T) {
	if _, ok := o.dirty[id]; !ok {
		o.order = append(o.order, id)
	}
	o.dirty[id] = &v
}

func (o *overlay[T]) del(id string) {
	if _, ok := o.dirty[id]; !ok {
		o.order = append(o.order, id)
	}
	o.dirty[id] = nil
}

func (o *overlay[T]) reset() {
	clear(o.dirty)
	o.order = o.order[:0]
}

// Begin starts a batch overlay. The engine reuses one Tx across batches through Reset.
func (s *State) Begin() *Tx {
	tx := &Tx{s: s, cardByPAN: map[string]string{}, tokenByPAN: map[string]string{},
		customerByExt: map[string]string{}}
	tx.customers = overlay[Customer]{base: s.customers, dirty: map[string]*Customer{}}
	tx.balances = overlay[Balance]{base: s.balances, dirty: map[string]*Balance{}}
	tx.cards = overlay[Card]{base: s.cards, dirty: map[string]*Card{}}
	tx.tokens = overlay[Token]{base: s.tokens, dirty: map[string]*Token{}}
	tx.agreements = overlay[Agreement]{base: s.agreements, dirty: map[string]*Agreement{}}
	tx.pba = overlay[PBARecord]{base: pbaOverlayBase{s.pba}, dirty: map[string]*PBARecord{}}
	tx.wallets = overlay[WalletToken]{base: s.wallets, dirty: map[string]*WalletToken{}}
	tx.beginLoyalty()
	c := s.cold
	tx.authBase = &coldBase[Auth]{tx: tx, keys: &c.auths, readFn: c.h.ReadAuth,
		known: map[string]bool{}, loaded: map[string]Auth{}, heldAt: map[string]int64{}}
	tx.replyBase = &coldBase[Reply]{tx: tx, keys: &c.replies, readFn: c.h.ReadReply,
		known: map[string]bool{}, loaded: map[string]Reply{}, heldAt: map[string]int64{}}
	tx.auths = overlay[Auth]{base: tx.authBase, dirty: map[string]*Auth{}}
	tx.replies = overlay[Reply]{base: tx.replyBase, dirty: map[string]*Reply{}}
	tx.touched, tx.bounds = map[string]bool{}, map[string]int64{}
	tx.indexRows, tx.dueMax = map[string][]IndexRow{}, map[string][]int{}
	return tx
}

// fail records that the batch read a record Load did not bring in: the batch is refused (Err)
// rather than decided on a record it did not see.
func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// Err is ErrNotLoaded when the batch read a record it had not loaded; the engine rolls such a
// batch back.
func (tx *Tx) Err() error { return tx.err }

// Reset discards every write of the Tx so it can serve the next batch.
func (tx *Tx) Reset() {
	tx.customers.reset()
	tx.balances.reset()
	tx.cards.reset()
	tx.tokens.reset()
	tx.agreements.reset()
	tx.newAgreements = tx.newAgreements[:0]
	tx.pba.reset()
	tx.wallets.reset()
	tx.resetLoyalty()
	tx.auths.reset()
	tx.replies.reset()
	clear(tx.cardByPAN)
	tx.newCards = tx.newCards[:0]
	clear(tx.tokenByPAN)
	clear(tx.customerByExt)
	tx.authBase.reset()
	tx.replyBase.reset()
	clear(tx.touched)
	clear(tx.bounds)
	clear(tx.deletedEntries)
	clear(tx.indexRows)
	clear(tx.dueMax)
	clear(tx.archived)
	tx.index = tx.index[:0]
	tx.resetEvents()
	tx.prepared = false
	tx.err = nil
}

// Rollback discards the batch: the State stays as it was before the batch (a Tx writes
// nothing to it before Commit, so nothing needs undoing).
func (tx *Tx) Rollback() { tx.Reset() }

// Empty reports whether the Tx holds no writes.
func (tx *Tx) Empty() bool {
	return len(tx.customers.order)+len(tx.balances.order)+len(tx.cards.order)+
		len(tx.tokens.order)+len(tx.agreements.order)+len(tx.pba.order)+len(tx.auths.order)+len(tx.replies.order)+len(tx.index)+
		len(tx.events)+len(tx.audits)+len(tx.wallets.order)+tx.loyaltyWrites() == 0
}

// Reads and writes of the overlay.

func (tx *Tx) Customer(id string) (Customer, bool) { return tx.customers.get(id) }
func (tx *Tx) Balance(id string) (Balance, bool)   { return tx.balances.get(id) }
func (tx *Tx) Card(id string) (Card, bool)         { return tx.cards.get(id) }
func (tx *Tx) Token(id string) (Token, bool)       { return tx.tokens.get(id) }
func (tx *Tx) Auth(key string) (Auth, bool)        { return tx.auths.get(key) }
func (tx *Tx) Reply(key string) (Reply, bool)      { return tx.replies.get(key) }

func (tx *Tx) PutCustomer(c Customer) {
	tx.customers.put(c.ID, c)
	if c.ExternalID != "" {
		tx.customerByExt[c.ExternalID] = c.ID
	}
}
func (tx *Tx) PutBalance(b Balance) {
	if b.LowMarkMinor > 0 { // only a balance with a threshold can cross it (balance.low)
		tx.noteLow(&b)
	}
	tx.balances.put(b.ID, b)
}
func (tx *Tx) PutCard(c Card) {
	if _, dirty := tx.cards.dirty[c.ID]; !dirty {
		if _, committed := tx.s.cards.FindID(c.ID); !committed {
			tx.newCards = append(tx.newCards, c.ID)
		}
	}
	tx.cards.put(c.ID, c)
	if _, ok := tx.cardByPAN[c.PANHash]; !ok {
		tx.cardByPAN[c.PANHash] = c.ID
	}
}
func (tx *Tx) PutToken(t Token) {
	tx.tokens.put(t.ID, t)
	tx.tokenByPAN[t.PANHash] = t.ID
}
func (tx *Tx) PutAuth(a Auth)   { tx.auths.put(a.Key, a) }
func (tx *Tx) PutReply(r Reply) { tx.replies.put(r.Key, r) }

// DeleteReply forgets a remembered answer (retention).
func (tx *Tx) DeleteReply(key string) { tx.replies.del(key) }

// DeleteAuth forgets a closed auth record (retention).
func (tx *Tx) DeleteAuth(key string) { tx.auths.del(key) }

// CardIDByPANHash resolves a PAN hash, seeing cards issued earlier in the same batch.
func (tx *Tx) CardIDByPANHash(h string) (string, bool) {
	if id, ok := tx.s.cards.idByPANHash(h); ok {
		return id, true
	}
	id, ok := tx.cardByPAN[h]
	return id, ok
}

// cardByPANHash is CardIDByPANHash then Card, with one index lookup instead of two for a
// committed card the batch has not changed (the authorization path: a million-entry index costs
// cache misses on every probe).
func (tx *Tx) cardByPANHash(h string) (Card, bool) {
	if row, ok := tx.s.cards.byPAN.Find(h, tx.s.cards.panHashAt); ok {
		id := tx.s.cards.IDAt(row)
		if _, dirty := tx.cards.dirty[id]; !dirty {
			return tx.s.cards.decode(row), true
		}
		return tx.Card(id)
	}
	if id, ok := tx.cardByPAN[h]; ok {
		return tx.Card(id)
	}
	return Card{}, false
}

// TokenIDByPANHash resolves a token PAN hash.
func (tx *Tx) TokenIDByPANHash(h string) (string, bool) {
	if id, ok := tx.tokenByPAN[h]; ok {
		return id, true
	}
	return tx.s.tokens.idByPANHash(h)
}

// CustomerIDByExternal resolves a partner's external id, seeing this batch's customers.
func (tx *Tx) CustomerIDByExternal(ext string) (string, bool) {
	if id, ok := tx.customerByExt[ext]; ok {
		return id, true
	}
	return tx.s.customers.idByExternal(ext)
}

// CardIDsOfBalance lists committed and batch-issued cards of a balance.
func (tx *Tx) CardIDsOfBalance(balanceID string) []string {
	ids := tx.s.cards.idsOfBalance(balanceID)
	// Only the cards new in this batch: a chip or PIN approval rewrites its card, so a batch can
	// hold hundreds of rewritten cards, and looking through all of them for every message made
	// a batch quadratic (6.5 % of the CPU of chip traffic).
	for _, id := range tx.newCards {
		if c := tx.cards.dirty[id]; c != nil && c.BalanceID == balanceID {
			ids = append(ids, id)
		}
	}
	return ids
}

// Change is one row the batch wrote: the journal persists it (Row nil: deleted).
type Change struct {
	Table string // "customer", "balance", "card", "token", "auth", "reply", "expiry", "aging"
	Key   string
	Row   any // *Customer, *Balance, ..., *IndexRow, or nil
}

// Changes lists the batch's writes in a deterministic order.
func (tx *Tx) Changes(dst []Change) []Change {
	dst = appendChanges(dst, "customer", &tx.customers)
	dst = appendChanges(dst, "balance", &tx.balances)
	dst = appendChanges(dst, "card", &tx.cards)
	dst = appendChanges(dst, "token", &tx.tokens)
	dst = appendChanges(dst, TableAgreement, &tx.agreements)
	dst = appendChanges(dst, TablePBA, &tx.pba)
	dst = appendChanges(dst, TableWalletToken, &tx.wallets)
	dst = tx.appendLoyaltyChanges(dst)
	dst = appendChanges(dst, "auth", &tx.auths)
	dst = appendChanges(dst, "reply", &tx.replies)
	tx.prepareCold()
	dst = append(dst, tx.index...)
	return tx.appendEventChanges(dst)
}

func appendChanges[T any](dst []Change, name string, o *overlay[T]) []Change {
	for _, k := range o.order {
		v := o.dirty[k]
		if v == nil {
			dst = append(dst, Change{Table: name, Key: k})
		} else {
			dst = append(dst, Change{Table: name, Key: k, Row: v})
		}
	}
	return dst
}

// Commit merges the batch into the State. Call it only once the batch is durable.
func (tx *Tx) Commit() {
	s := tx.s
	tx.prepareCold() // a no-op unless the caller committed without asking for Changes
	s.mu.Lock()
	// Referenced tables first: a card's record names its balance's row, an auth's its card's.
	merge(&tx.customers, s.customers.set)
	merge(&tx.balances, s.balances.set)
	merge(&tx.cards, func(c *Card) { s.cards.set(c, false) })
	merge(&tx.tokens, s.tokens.set)
	merge(&tx.agreements, s.agreements.set)
	mergePBA(&tx.pba, s.pba)
	merge(&tx.wallets, s.wallets.set)
	tx.commitLoyalty()
	tx.commitEvents()
	tx.commitCold()
	s.mu.Unlock()
	tx.Reset()
}

// merge stores the rows of a table whose rows are never deleted.
func merge[T any](o *overlay[T], set func(*T)) {
	for _, k := range o.order {
		v := o.dirty[k]
		if v == nil {
			panic("ledger: delete of a customer, balance, card or token")
		}
		set(v)
	}
}

// DueExpiries lists the keys of open holds whose expiry is at or before nowNanos, at most max.
// Entries are removed from the expiry index; stale entries (captured, reversed) are skipped.
// Only the engine goroutine calls it.
func (tx *Tx) DueExpiries(nowNanos int64, max int) []string {
	var keys []string
	for _, e := range tx.dueCold(TableExpiry, func(at int64) bool { return at <= nowNanos }, max) {
		// Only a hold still open with this expiry: one captured, reversed or given a new
		// expiry since is skipped (its new expiry has an entry of its own).
		if a, ok := tx.Auth(e.Key); ok && a.State == AuthOpen && a.HeldMinor != 0 && a.ExpiresAtUnixNano == e.AtUnixNano {
			keys = append(keys, e.Key)
		}
	}
	return keys
}
