package ledger

import (
	"crypto/subtle"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cardswitch/cardswitch/authz"
)

// The tables of rows that are never deleted: customers, balances, cards and tokens (a row per
// card: millions). Their strings are never overwritten, so a read returns strings that alias
// the stored bytes and allocates nothing (store.go). Names from small sets (states, types,
// programs, currencies) are stored as 16-bit symbols. A field that names a row of another
// table (a card's balance and customer, a token's card) is stored as that row's number
// when the row exists, which costs 3–4 bytes instead of the id.

// Symbols: the names of small sets, shared by every State of the process. Reads are lock-free
// (maps published atomically, never changed once published); new names are added under a mutex.
type symbolTable struct {
	mu    sync.Mutex
	idx   atomic.Pointer[map[string]uint16]
	names atomic.Pointer[[]string]
}

// symbols is initialized by its declaration (not in init) so that package variables can use
// sym.
var symbols = func() *symbolTable {
	t := &symbolTable{}
	idx := map[string]uint16{"": 0}
	names := []string{""}
	t.idx.Store(&idx)
	t.names.Store(&names)
	return t
}()

// sym returns the symbol of a name, adding it on first use.
func sym(name string) uint16 {
	if i, ok := (*symbols.idx.Load())[name]; ok {
		return i
	}
	symbols.mu.Lock()
	defer symbols.mu.Unlock()
	old := *symbols.idx.Load()
	if i, ok := old[name]; ok {
		return i
	}
	names := *symbols.names.Load()
	if len(names) >= 1<<16 {
		panic("ledger: more than 65535 distinct state, type, program and currency names")
	}
	name = strings.Clone(name)
	i := uint16(len(names))
	names = append(names[:len(names):len(names)], name)
	idx := maps.Clone(old)
	idx[name] = i
	symbols.names.Store(&names) // names first: a reader that sees the symbol finds its name
	symbols.idx.Store(&idx)
	return i
}

func symName(i uint16) string { return (*symbols.names.Load())[i] }

// immTable is the storage of a table of rows never deleted, keyed by an id that is the first
// string of every record.
type immTable struct {
	rowStore
	byID    index
	scratch recEnc
	// loading is set during recovery, where every id comes once: a row is added without
	// first looking its id up (a probe of a million-entry map per row).
	loading bool
}

// existing finds the row of an id being stored (never during recovery: see loading).
func (t *immTable) existing(id string) (uint32, bool) {
	if t.loading {
		return 0, false
	}
	return t.findID(id)
}

func newImmTable(header int) immTable {
	return immTable{rowStore: rowStore{header: header}, byID: newIndex()}
}

// idAt returns the id of a row, aliasing the stored bytes (never overwritten).
func (t *immTable) idAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: t.header}
	return d.str()
}

func (t *immTable) findID(id string) (uint32, bool) { return t.byID.find(id, t.idAt) }

// put stores the encoded record of the row with the id, and reports whether it was new.
func (t *immTable) put(id string, rec []byte) (row uint32, added bool) {
	row, ok := t.existing(id)
	return t.putAt(row, ok, id, rec), !ok
}

// putAt is put for a caller that looked the id up already.
func (t *immTable) putAt(row uint32, exists bool, id string, rec []byte) uint32 {
	if exists {
		t.update(row, rec)
		return row
	}
	row = t.add(rec)
	t.byID.set(id, row, t.idAt)
	return row
}

// refs are the tables whose rows other rows name: a field naming one of their rows is stored
// as the row number when the row exists (nil tables: always as the string).
type refs struct {
	cards, balances, customers *immTable
}

// refTo writes id as a reference to its row in t when there is one, else as a string.
func refTo(e *recEnc, t *immTable, id string) {
	if t != nil && id != "" {
		if row, ok := t.findID(id); ok {
			e.num(row)
			return
		}
	}
	e.str(id)
}

// refField reads a field written by refTo.
func refField(d *recDec, t *immTable) string {
	s, row, isRef := d.field()
	if isRef {
		return t.idAt(row)
	}
	return s
}

func (r *refs) card(e *recEnc, id string)      { refTo(e, r.cards, id) }
func (r *refs) balance(e *recEnc, id string)   { refTo(e, r.balances, id) }
func (r *refs) customer(e *recEnc, id string)  { refTo(e, r.customers, id) }
func (r *refs) cardField(d *recDec) string     { return refField(d, r.cards) }
func (r *refs) balanceField(d *recDec) string  { return refField(d, r.balances) }
func (r *refs) customerField(d *recDec) string { return refField(d, r.customers) }

// suffix writes s as "the last len(s) bytes of whole" when it is (Last4 of a PAN), else as s.
func suffix(e *recEnc, s, whole string) {
	if s != "" && strings.HasSuffix(whole, s) {
		e.num(uint32(len(s)))
		return
	}
	e.str(s)
}

func suffixField(d *recDec, whole string) string {
	s, n, isSuffix := d.field()
	if isSuffix {
		return whole[len(whole)-int(n):]
	}
	return s
}

// Customer layout: the header, then ID, ExternalID (as a suffix of ID when it is one:
// provisioned customers use their id), FirstName, LastName, Email, Phone.
const (
	customerKYC       = 0 // u16 symbol
	customerCreatedAt = 2 // i64
	customerHeader    = 10
)

type customerTable struct {
	immTable
	byExt index // external id -> customer
}

func newCustomerTable() *customerTable {
	return &customerTable{immTable: newImmTable(customerHeader), byExt: newIndex()}
}

func (t *customerTable) encode(c *Customer) []byte {
	e := &t.scratch
	e.b = e.b[:0]
	e.u16(sym(c.KYC))
	e.i64(c.CreatedAt)
	e.str(c.ID)
	suffix(e, c.ExternalID, c.ID) // provisioned customers use their id as external id
	e.str(c.FirstName)
	e.str(c.LastName)
	e.str(c.Email)
	e.str(c.Phone)
	return e.b
}

func (t *customerTable) decode(row uint32) Customer {
	d := recDec{s: view(t.rec(row))}
	c := Customer{KYC: symName(d.u16()), CreatedAt: d.i64()}
	c.ID = d.str()
	c.ExternalID = suffixField(&d, c.ID)
	c.FirstName, c.LastName, c.Email, c.Phone = d.str(), d.str(), d.str(), d.str()
	return c
}

func (t *customerTable) extAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: t.header}
	id := d.str()
	return suffixField(&d, id)
}

func (t *customerTable) get(id string) (Customer, bool) {
	row, ok := t.findID(id)
	if !ok {
		return Customer{}, false
	}
	return t.decode(row), true
}

func (t *customerTable) set(c *Customer) {
	row, _ := t.put(c.ID, t.encode(c))
	if c.ExternalID != "" {
		t.byExt.set(c.ExternalID, row, t.extAt)
	}
}

func (t *customerTable) idByExternal(ext string) (string, bool) {
	row, ok := t.byExt.find(ext, t.extAt)
	if !ok {
		return "", false
	}
	return t.idAt(row), true
}

// Balance layout: the header, then ID, CustomerID.
const (
	balanceKind        = 0  // u16 symbol
	balanceProgram     = 2  // u16 symbol
	balanceCurrency    = 4  // u16 symbol
	balanceState       = 6  // u16 symbol
	balanceCurrent     = 8  // i64
	balanceHeld        = 16 // i64
	balanceCreditLimit = 24 // i64
	balanceLowMark     = 32 // i64
	balanceLoaded      = 40 // i64
	balanceCreatedAt   = 48 // i64
	balanceHeader      = 56
)

type balanceTable struct {
	immTable
	refs *refs
}

func newBalanceTable(r *refs) *balanceTable {
	return &balanceTable{immTable: newImmTable(balanceHeader), refs: r}
}

func (t *balanceTable) encode(b *Balance) []byte {
	e := t.header(b)
	e.str(b.ID)
	t.refs.customer(e, b.CustomerID)
	return e.b
}

// header encodes the fixed-size part of a balance (symbols and amounts) into the scratch encoder.
func (t *balanceTable) header(b *Balance) *recEnc {
	e := &t.scratch
	e.b = e.b[:0]
	e.u16(sym(b.Kind))
	e.u16(sym(b.Program))
	e.u16(sym(b.Currency))
	e.u16(sym(string(b.State)))
	e.i64(b.CurrentMinor)
	e.i64(b.HeldMinor)
	e.i64(b.CreditLimitMinor)
	e.i64(b.LowMarkMinor)
	e.i64(b.LoadedMinor)
	e.i64(b.CreatedAt)
	return e
}

func (t *balanceTable) decode(row uint32) Balance {
	d := recDec{s: view(t.rec(row))}
	b := Balance{Kind: symName(d.u16()), Program: symName(d.u16()), Currency: symName(d.u16()),
		State: BalanceState(symName(d.u16())), CurrentMinor: d.i64(), HeldMinor: d.i64(), CreditLimitMinor: d.i64(),
		LowMarkMinor: d.i64(), LoadedMinor: d.i64(), CreatedAt: d.i64()}
	b.ID = d.str()
	b.CustomerID = t.refs.customerField(&d)
	return b
}

func (t *balanceTable) get(id string) (Balance, bool) {
	row, ok := t.findID(id)
	if !ok {
		return Balance{}, false
	}
	return t.decode(row), true
}

// set stores b. Every approval rewrites a balance with only its amounts changed: then the
// header is written in place, without encoding the row again (which resolves the customer
// reference through the customer index: a lookup in a map of a million entries per approval).
func (t *balanceTable) set(b *Balance) {
	row, ok := t.existing(b.ID)
	if ok {
		rec := t.rec(row)
		d := recDec{s: view(rec[balanceHeader:])}
		if d.str() == b.ID && t.refs.customerField(&d) == b.CustomerID {
			copy(rec[:balanceHeader], t.header(b).b)
			return
		}
	}
	t.putAt(row, ok, b.ID, t.encode(b))
}

// Card layout: the header, then ID, BalanceID, CustomerID, PANHash, PAN, Last4, ExpiryYYMM,
// PSN, CVC2, PVV and the labels (nil: an empty string; else their count as a number, then key
// and value of each, sorted).
// Limits and usage, which only cards with limits have, are kept in cardTable.ext.
const (
	cardProgram       = 0  // u16 symbol
	cardType          = 2  // u16 symbol
	cardState         = 4  // u16 symbol
	cardLock          = 6  // u8
	cardFlags         = 7  // u8: cardPersonalised
	cardDataFailCount = 8  // u8 (at most 255)
	cardPINTries      = 9  // i32
	cardHighestATC    = 13 // i32
	cardCreatedAt     = 17 // i64
	cardHeader        = 25

	cardPersonalised = 1
)

// cardExt is the part of a card only cards with limits have (no pointers: the map holding it
// is not scanned by the GC).
type cardExt struct {
	limits Limits
	usage  Usage
}

type cardTable struct {
	immTable
	refs  *refs
	byPAN index // PAN hash -> the card issued first with that PAN
	first index // balance id -> the balance's first card
	more  map[string][]uint32
	ext   map[uint32]cardExt
	// sharedPAN lists, during recovery, the PAN hashes more than one card has: FinishLoad
	// gives each to the card issued first (rows come back in store order).
	sharedPAN map[string][]uint32
}

func newCardTable(r *refs) *cardTable {
	return &cardTable{immTable: newImmTable(cardHeader), refs: r, byPAN: newIndex(), first: newIndex(),
		more: map[string][]uint32{}, ext: map[uint32]cardExt{}}
}

func (t *cardTable) encode(c *Card) []byte {
	e := t.headerOf(c)
	e.str(c.ID)
	t.refs.balance(e, c.BalanceID)
	t.refs.customer(e, c.CustomerID)
	e.str(c.PANHash)
	e.str(c.PAN)
	suffix(e, c.Last4, c.PAN)
	e.str(c.ExpiryYYMM)
	e.str(c.PSN)
	e.str(c.CVC2)
	e.str(c.PVV)
	if c.Labels == nil {
		e.str("")
	} else {
		e.num(uint32(len(c.Labels)))
		for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
			e.str(k)
			e.str(c.Labels[k])
		}
	}
	return e.b
}

// headerOf encodes the fixed-size part of a card's record into the scratch encoder.
func (t *cardTable) headerOf(c *Card) *recEnc {
	e := &t.scratch
	e.b = e.b[:0]
	var flags uint8
	if c.Personalised {
		flags |= cardPersonalised
	}
	e.u16(sym(c.Program))
	e.u16(sym(c.Type))
	e.u16(sym(string(c.State)))
	e.u8(uint8(c.LockReason))
	e.u8(flags)
	e.u8(uint8(min(max(c.CardDataFails, 0), 255)))
	e.u32(uint32(int32(c.PINTries)))
	e.u32(uint32(int32(c.HighestATC)))
	e.i64(c.CreatedAt)
	return e
}

// sameStrings reports whether the stored card at row has c's ids, PAN data, secrets and labels,
// with its balance and customer named by row number, so that a rewrite of c changes only the
// header. (A card recovered before its balance spells the ids out; its first rewrite encodes it
// again, with row numbers.)
func (t *cardTable) sameStrings(row uint32, c *Card) bool {
	d := recDec{s: view(t.rec(row)), i: cardHeader}
	d.str() // ID
	if _, _, isRef := d.field(); !isRef {
		return false
	}
	if _, _, isRef := d.field(); !isRef {
		return false
	}
	old := t.decode(row) // strings alias the stored bytes: no copies
	return old.ID == c.ID && old.BalanceID == c.BalanceID && old.CustomerID == c.CustomerID &&
		old.PANHash == c.PANHash && old.PAN == c.PAN && old.Last4 == c.Last4 &&
		old.ExpiryYYMM == c.ExpiryYYMM && old.PSN == c.PSN && sameSecret(old.CVC2, c.CVC2) && sameSecret(old.PVV, c.PVV) &&
		(old.Labels == nil) == (c.Labels == nil) && maps.Equal(old.Labels, c.Labels)
}

// sameSecret compares card secrets in constant time, as every comparison of a secret is
// (test/reliability checks it), though here it only decides how a record is rewritten.
func sameSecret(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (t *cardTable) decode(row uint32) Card {
	d := recDec{s: view(t.rec(row))}
	c := Card{Program: symName(d.u16()), Type: symName(d.u16()), State: authz.CardState(symName(d.u16())),
		LockReason: authz.LockReason(d.u8())}
	flags := d.u8()
	c.Personalised = flags&cardPersonalised != 0
	c.CardDataFails = int(d.u8())
	c.PINTries = int(int32(d.u32()))
	c.HighestATC = int(int32(d.u32()))
	c.CreatedAt = d.i64()
	c.ID = d.str()
	c.BalanceID = t.refs.balanceField(&d)
	c.CustomerID = t.refs.customerField(&d)
	c.PANHash = d.str()
	c.PAN = d.str()
	c.Last4 = suffixField(&d, c.PAN)
	c.ExpiryYYMM, c.PSN, c.CVC2, c.PVV = d.str(), d.str(), d.str(), d.str()
	if _, n, isSet := d.field(); isSet {
		c.Labels = make(map[string]string, n)
		for range n {
			k := d.str()
			c.Labels[k] = d.str()
		}
	}
	if x, ok := t.ext[row]; ok {
		c.Limits, c.Usage = x.limits, x.usage
	}
	return c
}

// The keys of the secondary indexes, read from a row (aliasing its bytes).
func (t *cardTable) balanceAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: t.header}
	d.str()
	return t.refs.balanceField(&d)
}

func (t *cardTable) panHashAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: t.header}
	d.str()
	d.field()
	d.field()
	return d.str()
}

func (t *cardTable) createdAt(row uint32) int64 {
	d := recDec{s: view(t.rec(row)), i: cardCreatedAt}
	return d.i64()
}

func (t *cardTable) get(id string) (Card, bool) {
	row, ok := t.findID(id)
	if !ok {
		return Card{}, false
	}
	return t.decode(row), true
}

// set stores a card and indexes it. recovering: rows come in store order (see sharedPAN).
func (t *cardTable) set(c *Card, recovering bool) {
	row, existed := t.existing(c.ID)
	// A rewrite (PIN tries, ATC, state: the common case) keeps the PAN and the balance: the
	// indexes stay as they are, and when no string changed only the header is written, in place
	// (encoding the record again resolves the balance and customer references: two lookups in
	// million-entry indexes per chip or PIN approval).
	samePAN, sameBalance := false, false
	if existed {
		samePAN, sameBalance = t.panHashAt(row) == c.PANHash, t.balanceAt(row) == c.BalanceID
	}
	if existed && samePAN && sameBalance && t.sameStrings(row, c) {
		copy(t.rec(row)[:cardHeader], t.headerOf(c).b)
	} else {
		row = t.putAt(row, existed, c.ID, t.encode(c))
	}
	if c.Limits != (Limits{}) || c.Usage != (Usage{}) {
		t.ext[row] = cardExt{limits: c.Limits, usage: c.Usage}
	} else if len(t.ext) > 0 {
		delete(t.ext, row)
	}
	if !samePAN {
		t.indexPAN(row, c.PANHash, recovering)
	}
	if !sameBalance {
		t.indexBalance(row, c.BalanceID, !existed)
	}
}

// indexPAN lists a card under its PAN hash. A digital-first physical copy shares its PAN with
// the virtual card: the PAN index keeps the card issued first, which the authorization path
// resolves to.
func (t *cardTable) indexPAN(row uint32, panHash string, recovering bool) {
	if other, ok := t.byPAN.find(panHash, t.panHashAt); !ok {
		t.byPAN.set(panHash, row, t.panHashAt)
	} else if other != row && recovering {
		if t.sharedPAN == nil {
			t.sharedPAN = map[string][]uint32{}
		}
		h := t.panHashAt(row) // the stored copy: the caller's string may be short-lived
		if !slices.Contains(t.sharedPAN[h], row) {
			t.sharedPAN[h] = append(t.sharedPAN[h], row)
		}
	}
}

// indexBalance lists a card among its balance's cards (fresh: a new row, in no list yet).
func (t *cardTable) indexBalance(row uint32, balanceID string, fresh bool) {
	first, ok := t.first.find(balanceID, t.balanceAt)
	if !ok {
		t.first.set(balanceID, row, t.balanceAt)
		return
	}
	if first == row || !fresh && slices.Contains(t.more[balanceID], row) {
		return
	}
	bal := t.balanceAt(row) // the stored copy: the caller's string may be short-lived
	t.more[bal] = append(t.more[bal], row)
}

// issuedBefore orders cards by issue time, then id.
func (t *cardTable) issuedBefore(a, b uint32) int {
	if ta, tb := t.createdAt(a), t.createdAt(b); ta != tb {
		if ta < tb {
			return -1
		}
		return 1
	}
	return strings.Compare(t.idAt(a), t.idAt(b))
}

// finishLoad restores the issue order of the cards of a PAN hash and of a balance.
func (t *cardTable) finishLoad() {
	for h, rows := range t.sharedPAN {
		if first, ok := t.byPAN.find(h, t.panHashAt); ok {
			rows = append(rows, first)
		}
		t.byPAN.set(h, slices.MinFunc(rows, t.issuedBefore), t.panHashAt)
	}
	t.sharedPAN = nil
	for bal, more := range t.more {
		first, _ := t.first.find(bal, t.balanceAt)
		rows := append([]uint32{first}, more...)
		slices.SortFunc(rows, t.issuedBefore)
		t.first.set(bal, rows[0], t.balanceAt)
		t.more[bal] = rows[1:]
	}
}

func (t *cardTable) idByPANHash(h string) (string, bool) {
	row, ok := t.byPAN.find(h, t.panHashAt)
	if !ok {
		return "", false
	}
	return t.idAt(row), true
}

// idsOfBalance lists the cards of a balance in issue order.
func (t *cardTable) idsOfBalance(balanceID string) []string {
	first, ok := t.first.find(balanceID, t.balanceAt)
	if !ok {
		return nil
	}
	more := t.more[balanceID]
	ids := make([]string, 0, 1+len(more))
	ids = append(ids, t.idAt(first))
	for _, row := range more {
		ids = append(ids, t.idAt(row))
	}
	return ids
}

func (t *cardTable) each(f func(c *Card) bool) {
	for row := range t.loc {
		c := t.decode(uint32(row))
		if !f(&c) {
			return
		}
	}
}

// Token layout: the header, then ID, CardID, PANHash, PAN, Last4, ExpiryYYMM, PSN,
// WalletProvider.
const (
	tokenState      = 0  // u16 symbol
	tokenType       = 2  // u16 symbol
	tokenAssurance  = 4  // i64
	tokenHighestATC = 12 // i64
	tokenCreatedAt  = 20 // i64
	tokenHeader     = 28
)

type tokenTable struct {
	immTable
	refs   *refs
	byPAN  index
	byCard map[string][]uint32 // card id -> its tokens, in the order they were added
}

func newTokenTable(r *refs) *tokenTable {
	return &tokenTable{immTable: newImmTable(tokenHeader), refs: r, byPAN: newIndex(),
		byCard: map[string][]uint32{}}
}

func (t *tokenTable) encode(k *Token) []byte {
	e := &t.scratch
	e.b = e.b[:0]
	e.u16(sym(string(k.State)))
	e.u16(sym(k.Type))
	e.i64(int64(k.AssuranceLevel))
	e.i64(int64(k.HighestATC))
	e.i64(k.CreatedAt)
	e.str(k.ID)
	t.refs.card(e, k.CardID)
	e.str(k.PANHash)
	e.str(k.PAN)
	suffix(e, k.Last4, k.PAN)
	e.str(k.ExpiryYYMM)
	e.str(k.PSN)
	e.str(k.WalletProvider)
	return e.b
}

func (t *tokenTable) decode(row uint32) Token {
	d := recDec{s: view(t.rec(row))}
	k := Token{State: authz.TokenState(symName(d.u16())), Type: symName(d.u16()), AssuranceLevel: int(d.i64()),
		HighestATC: int(d.i64()), CreatedAt: d.i64()}
	k.ID = d.str()
	k.CardID = t.refs.cardField(&d)
	k.PANHash = d.str()
	k.PAN = d.str()
	k.Last4 = suffixField(&d, k.PAN)
	k.ExpiryYYMM, k.PSN, k.WalletProvider = d.str(), d.str(), d.str()
	return k
}

func (t *tokenTable) panHashAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: t.header}
	d.str()
	d.field()
	return d.str()
}

func (t *tokenTable) get(id string) (Token, bool) {
	row, ok := t.findID(id)
	if !ok {
		return Token{}, false
	}
	return t.decode(row), true
}

func (t *tokenTable) set(k *Token) {
	row, _ := t.put(k.ID, t.encode(k))
	t.byPAN.set(k.PANHash, row, t.panHashAt)
	if !slices.Contains(t.byCard[k.CardID], row) {
		t.byCard[strings.Clone(k.CardID)] = append(t.byCard[k.CardID], row)
	}
}

func (t *tokenTable) idByPANHash(h string) (string, bool) {
	row, ok := t.byPAN.find(h, t.panHashAt)
	if !ok {
		return "", false
	}
	return t.idAt(row), true
}

func (t *tokenTable) idsOfCard(cardID string) []string {
	rows := t.byCard[cardID]
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = t.idAt(row)
	}
	return ids
}

// PrepareLoad prepares a recovered row for State.Load. Rows are encoded by Load itself (the
// encoding of a card names its balance's row, which only the State knows), so it returns the
// row as it is; it is kept for the journal's parallel decoding, and is safe to call from
// several goroutines.
func PrepareLoad(row any) any { return row }
