package ledger

import (
	"crypto/subtle"
	"maps"
	"slices"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger/internal/rowstore"
)

// The tables of rows that are never deleted: customers, balances, cards and tokens (a row per
// card: millions), each a thin adapter that encodes its ledger type into a rowstore.Table
// (ledger/internal/rowstore: pointer-free storage the GC does not scan). Their strings are never
// overwritten, so a read returns strings that alias the stored bytes and allocates nothing.
// Names from small sets (states, types, programs, currencies) are stored as 16-bit symbols. A field that names a row of another
// table (a card's balance and customer, a token's card) is stored as that row's number
// when the row exists, which costs 3–4 bytes instead of the id.

// refs are the tables whose rows other rows name: a field naming one of their rows is stored
// as the row number when the row exists (nil tables: always as the string).
type refs struct {
	cards, balances, customers *rowstore.Table
}

func (r *refs) card(e *rowstore.Enc, id string)      { rowstore.RefTo(e, r.cards, id) }
func (r *refs) balance(e *rowstore.Enc, id string)   { rowstore.RefTo(e, r.balances, id) }
func (r *refs) customer(e *rowstore.Enc, id string)  { rowstore.RefTo(e, r.customers, id) }
func (r *refs) cardField(d *rowstore.Dec) string     { return rowstore.RefField(d, r.cards) }
func (r *refs) balanceField(d *rowstore.Dec) string  { return rowstore.RefField(d, r.balances) }
func (r *refs) customerField(d *rowstore.Dec) string { return rowstore.RefField(d, r.customers) }

// Customer layout: the header, then ID, ExternalID (as a suffix of ID when it is one:
// provisioned customers use their id), FirstName, LastName, Email, Phone.
const (
	customerKYC       = 0  // u16 symbol
	customerCreatedAt = 2  // i64
	customerState     = 10 // u16 symbol (customer_lifecycle.go)
	customerHeader    = 12
)

type customerTable struct {
	rowstore.Table
	byExt rowstore.Index // external id -> customer
}

func newCustomerTable() *customerTable {
	return &customerTable{Table: rowstore.NewTable(customerHeader), byExt: rowstore.NewIndex()}
}

func (t *customerTable) encode(c *Customer) []byte {
	e := t.Scratch()
	e.U16(rowstore.Sym(c.KYC))
	e.I64(c.CreatedAtUnixNano)
	e.U16(rowstore.Sym(string(c.State)))
	e.Str(c.ID)
	rowstore.Suffix(e, c.ExternalID, c.ID) // provisioned customers use their id as external id
	e.Str(c.FirstName)
	e.Str(c.LastName)
	e.Str(c.Email)
	e.Str(c.Phone)
	e.Str(c.KYCReference)
	return e.B
}

func (t *customerTable) decode(row uint32) Customer {
	d := rowstore.NewDec(t.Rec(row), 0)
	c := Customer{KYC: rowstore.SymName(d.U16()), CreatedAtUnixNano: d.I64()}
	c.State = CustomerState(rowstore.SymName(d.U16()))
	c.ID = d.Str()
	c.ExternalID = rowstore.SuffixField(&d, c.ID)
	c.FirstName, c.LastName, c.Email, c.Phone = d.Str(), d.Str(), d.Str(), d.Str()
	c.KYCReference = d.Str()
	return c
}

func (t *customerTable) extAt(row uint32) string {
	d := rowstore.NewDec(t.Rec(row), customerHeader)
	id := d.Str()
	return rowstore.SuffixField(&d, id)
}

func (t *customerTable) get(id string) (Customer, bool) {
	row, ok := t.FindID(id)
	if !ok {
		return Customer{}, false
	}
	return t.decode(row), true
}

func (t *customerTable) set(c *Customer) {
	row, _ := t.Put(c.ID, t.encode(c))
	if c.ExternalID != "" {
		t.byExt.Set(c.ExternalID, row, t.extAt)
	}
}

func (t *customerTable) idByExternal(ext string) (string, bool) {
	row, ok := t.byExt.Find(ext, t.extAt)
	if !ok {
		return "", false
	}
	return t.IDAt(row), true
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
	rowstore.Table
	refs *refs
}

func newBalanceTable(r *refs) *balanceTable {
	return &balanceTable{Table: rowstore.NewTable(balanceHeader), refs: r}
}

func (t *balanceTable) encode(b *Balance) []byte {
	e := t.header(b)
	e.Str(b.ID)
	t.refs.customer(e, b.CustomerID)
	return e.B
}

// header encodes the fixed-size part of a balance (symbols and amounts) into the scratch encoder.
func (t *balanceTable) header(b *Balance) *rowstore.Enc {
	e := t.Scratch()
	e.U16(rowstore.Sym(b.Kind))
	e.U16(rowstore.Sym(b.Program))
	e.U16(rowstore.Sym(b.Currency))
	e.U16(rowstore.Sym(string(b.State)))
	e.I64(b.CurrentMinor)
	e.I64(b.HeldMinor)
	e.I64(b.CreditLimitMinor)
	e.I64(b.LowMarkMinor)
	e.I64(b.LoadedMinor)
	e.I64(b.CreatedAtUnixNano)
	return e
}

func (t *balanceTable) decode(row uint32) Balance {
	d := rowstore.NewDec(t.Rec(row), 0)
	b := Balance{Kind: rowstore.SymName(d.U16()), Program: rowstore.SymName(d.U16()), Currency: rowstore.SymName(d.U16()),
		State: BalanceState(rowstore.SymName(d.U16())), CurrentMinor: d.I64(), HeldMinor: d.I64(), CreditLimitMinor: d.I64(),
		LowMarkMinor: d.I64(), LoadedMinor: d.I64(), CreatedAtUnixNano: d.I64()}
	b.ID = d.Str()
	b.CustomerID = t.refs.customerField(&d)
	return b
}

func (t *balanceTable) get(id string) (Balance, bool) {
	row, ok := t.FindID(id)
	if !ok {
		return Balance{}, false
	}
	return t.decode(row), true
}

// set stores b. Every approval rewrites a balance with only its amounts changed: then the
// header is written in place, without encoding the row again (which resolves the customer
// reference through the customer index: a lookup in a map of a million entries per approval).
func (t *balanceTable) set(b *Balance) {
	row, ok := t.Existing(b.ID)
	if ok {
		rec := t.Rec(row)
		d := rowstore.NewDec(rec, balanceHeader)
		if d.Str() == b.ID && t.refs.customerField(&d) == b.CustomerID {
			copy(rec[:balanceHeader], t.header(b).B)
			return
		}
	}
	t.PutAt(row, ok, b.ID, t.encode(b))
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
	cardFlags         = 7  // u8: cardPersonalised, cardBeforeLock*
	cardDataFailCount = 8  // u8 (at most 255)
	cardPINTries      = 9  // i32
	cardHighestATC    = 13 // i32
	cardCreatedAt     = 17 // i64
	cardHeader        = 25

	cardPersonalised = 1
	// Card.StateBeforeLock, which is only ever empty, ACTIVE or INACTIVE (Card.lock), takes two
	// flag bits rather than a symbol of its own: no byte more per card.
	cardBeforeLockActive   = 2
	cardBeforeLockInactive = 4
)

// cardExt is the part of a card only cards with limits have (no pointers: the map holding it
// is not scanned by the GC).
type cardExt struct {
	limits Limits
	usage  Usage
}

type cardTable struct {
	rowstore.Table
	refs  *refs
	byPAN rowstore.Index // PAN hash -> the card issued first with that PAN
	first rowstore.Index // balance id -> the balance's first card
	more  map[string][]uint32
	ext   map[uint32]cardExt
	// sharedPAN lists, during recovery, the PAN hashes more than one card has: FinishLoad
	// gives each to the card issued first (rows come back in store order).
	sharedPAN map[string][]uint32
}

func newCardTable(r *refs) *cardTable {
	return &cardTable{Table: rowstore.NewTable(cardHeader), refs: r, byPAN: rowstore.NewIndex(), first: rowstore.NewIndex(),
		more: map[string][]uint32{}, ext: map[uint32]cardExt{}}
}

func (t *cardTable) encode(c *Card) []byte {
	e := t.headerOf(c)
	e.Str(c.ID)
	t.refs.balance(e, c.BalanceID)
	t.refs.customer(e, c.CustomerID)
	e.Str(c.PANHash)
	e.Str(c.PAN)
	rowstore.Suffix(e, c.Last4, c.PAN)
	e.Str(c.ExpiryYYMM)
	e.Str(c.PSN)
	e.Str(c.CVC2)
	e.Str(c.PVV)
	if c.Labels == nil {
		e.Str("")
	} else {
		e.Num(uint32(len(c.Labels)))
		for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
			e.Str(k)
			e.Str(c.Labels[k])
		}
	}
	return e.B
}

// headerOf encodes the fixed-size part of a card's record into the scratch encoder.
func (t *cardTable) headerOf(c *Card) *rowstore.Enc {
	e := t.Scratch()
	var flags uint8
	if c.Personalised {
		flags |= cardPersonalised
	}
	switch c.StateBeforeLock {
	case "":
	case CardActive:
		flags |= cardBeforeLockActive
	case CardInactive:
		flags |= cardBeforeLockInactive
	default: // Card.lock sets only these; the journal refuses a row with another
		panic("ledger: card " + c.ID + ": state before lock " + string(c.StateBeforeLock))
	}
	e.U16(rowstore.Sym(c.Program))
	e.U16(rowstore.Sym(c.Type))
	e.U16(rowstore.Sym(string(c.State)))
	e.U8(uint8(c.LockReason))
	e.U8(flags)
	e.U8(uint8(min(max(c.CardDataFails, 0), 255)))
	e.U32(uint32(int32(c.PINTries)))
	e.U32(uint32(int32(c.HighestATC)))
	e.I64(c.CreatedAtUnixNano)
	return e
}

// sameStrings reports whether the stored card at row has c's ids, PAN data, secrets and labels,
// with its balance and customer named by row number, so that a rewrite of c changes only the
// header. (A card recovered before its balance spells the ids out; its first rewrite encodes it
// again, with row numbers.)
func (t *cardTable) sameStrings(row uint32, c *Card) bool {
	d := rowstore.NewDec(t.Rec(row), cardHeader)
	d.Str() // ID
	if _, _, isRef := d.Field(); !isRef {
		return false
	}
	if _, _, isRef := d.Field(); !isRef {
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
	d := rowstore.NewDec(t.Rec(row), 0)
	c := Card{Program: rowstore.SymName(d.U16()), Type: rowstore.SymName(d.U16()), State: authz.CardState(rowstore.SymName(d.U16())),
		LockReason: authz.LockReason(d.U8())}
	flags := d.U8()
	c.Personalised = flags&cardPersonalised != 0
	switch {
	case flags&cardBeforeLockActive != 0:
		c.StateBeforeLock = CardActive
	case flags&cardBeforeLockInactive != 0:
		c.StateBeforeLock = CardInactive
	}
	c.CardDataFails = int(d.U8())
	c.PINTries = int(int32(d.U32()))
	c.HighestATC = int(int32(d.U32()))
	c.CreatedAtUnixNano = d.I64()
	c.ID = d.Str()
	c.BalanceID = t.refs.balanceField(&d)
	c.CustomerID = t.refs.customerField(&d)
	c.PANHash = d.Str()
	c.PAN = d.Str()
	c.Last4 = rowstore.SuffixField(&d, c.PAN)
	c.ExpiryYYMM, c.PSN, c.CVC2, c.PVV = d.Str(), d.Str(), d.Str(), d.Str()
	if _, n, isSet := d.Field(); isSet {
		c.Labels = make(map[string]string, n)
		for range n {
			k := d.Str()
			c.Labels[k] = d.Str()
		}
	}
	if x, ok := t.ext[row]; ok {
		c.Limits, c.Usage = x.limits, x.usage
	}
	return c
}

// The keys of the secondary indexes, read from a row (aliasing its bytes).
func (t *cardTable) balanceAt(row uint32) string {
	d := rowstore.NewDec(t.Rec(row), cardHeader)
	d.Str()
	return t.refs.balanceField(&d)
}

func (t *cardTable) panHashAt(row uint32) string {
	d := rowstore.NewDec(t.Rec(row), cardHeader)
	d.Str()
	d.Field()
	d.Field()
	return d.Str()
}

func (t *cardTable) createdAt(row uint32) int64 {
	d := rowstore.NewDec(t.Rec(row), cardCreatedAt)
	return d.I64()
}

func (t *cardTable) get(id string) (Card, bool) {
	row, ok := t.FindID(id)
	if !ok {
		return Card{}, false
	}
	return t.decode(row), true
}

// set stores a card and indexes it. recovering: rows come in store order (see sharedPAN).
func (t *cardTable) set(c *Card, recovering bool) {
	row, existed := t.Existing(c.ID)
	// A rewrite (PIN tries, ATC, state: the common case) keeps the PAN and the balance: the
	// indexes stay as they are, and when no string changed only the header is written, in place
	// (encoding the record again resolves the balance and customer references: two lookups in
	// million-entry indexes per chip or PIN approval).
	samePAN, sameBalance := false, false
	if existed {
		samePAN, sameBalance = t.panHashAt(row) == c.PANHash, t.balanceAt(row) == c.BalanceID
	}
	if existed && samePAN && sameBalance && t.sameStrings(row, c) {
		copy(t.Rec(row)[:cardHeader], t.headerOf(c).B)
	} else {
		row = t.PutAt(row, existed, c.ID, t.encode(c))
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
// the virtual card: the PAN rowstore.Index keeps the card issued first, which the authorization path
// resolves to.
func (t *cardTable) indexPAN(row uint32, panHash string, recovering bool) {
	if other, ok := t.byPAN.Find(panHash, t.panHashAt); !ok {
		t.byPAN.Set(panHash, row, t.panHashAt)
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
	first, ok := t.first.Find(balanceID, t.balanceAt)
	if !ok {
		t.first.Set(balanceID, row, t.balanceAt)
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
	return strings.Compare(t.IDAt(a), t.IDAt(b))
}

// finishLoad restores the issue order of the cards of a PAN hash and of a balance.
func (t *cardTable) finishLoad() {
	for h, rows := range t.sharedPAN {
		if first, ok := t.byPAN.Find(h, t.panHashAt); ok {
			rows = append(rows, first)
		}
		t.byPAN.Set(h, slices.MinFunc(rows, t.issuedBefore), t.panHashAt)
	}
	t.sharedPAN = nil
	for bal, more := range t.more {
		first, _ := t.first.Find(bal, t.balanceAt)
		rows := append([]uint32{first}, more...)
		slices.SortFunc(rows, t.issuedBefore)
		t.first.Set(bal, rows[0], t.balanceAt)
		t.more[bal] = rows[1:]
	}
}

func (t *cardTable) idByPANHash(h string) (string, bool) {
	row, ok := t.byPAN.Find(h, t.panHashAt)
	if !ok {
		return "", false
	}
	return t.IDAt(row), true
}

// idsOfBalance lists the cards of a balance in issue order.
func (t *cardTable) idsOfBalance(balanceID string) []string {
	first, ok := t.first.Find(balanceID, t.balanceAt)
	if !ok {
		return nil
	}
	more := t.more[balanceID]
	ids := make([]string, 0, 1+len(more))
	ids = append(ids, t.IDAt(first))
	for _, row := range more {
		ids = append(ids, t.IDAt(row))
	}
	return ids
}

func (t *cardTable) each(f func(c *Card) bool) {
	for row := range t.Len() {
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
	rowstore.Table
	refs   *refs
	byPAN  rowstore.Index
	byCard map[string][]uint32 // card id -> its tokens, in the order they were added
}

func newTokenTable(r *refs) *tokenTable {
	return &tokenTable{Table: rowstore.NewTable(tokenHeader), refs: r, byPAN: rowstore.NewIndex(),
		byCard: map[string][]uint32{}}
}

func (t *tokenTable) encode(k *Token) []byte {
	e := t.Scratch()
	e.U16(rowstore.Sym(string(k.State)))
	e.U16(rowstore.Sym(k.Type))
	e.I64(int64(k.AssuranceLevel))
	e.I64(int64(k.HighestATC))
	e.I64(k.CreatedAtUnixNano)
	e.Str(k.ID)
	t.refs.card(e, k.CardID)
	e.Str(k.PANHash)
	e.Str(k.PAN)
	rowstore.Suffix(e, k.Last4, k.PAN)
	e.Str(k.ExpiryYYMM)
	e.Str(k.PSN)
	e.Str(k.WalletProvider)
	return e.B
}

func (t *tokenTable) decode(row uint32) Token {
	d := rowstore.NewDec(t.Rec(row), 0)
	k := Token{State: authz.TokenState(rowstore.SymName(d.U16())), Type: rowstore.SymName(d.U16()), AssuranceLevel: int(d.I64()),
		HighestATC: int(d.I64()), CreatedAtUnixNano: d.I64()}
	k.ID = d.Str()
	k.CardID = t.refs.cardField(&d)
	k.PANHash = d.Str()
	k.PAN = d.Str()
	k.Last4 = rowstore.SuffixField(&d, k.PAN)
	k.ExpiryYYMM, k.PSN, k.WalletProvider = d.Str(), d.Str(), d.Str()
	return k
}

func (t *tokenTable) panHashAt(row uint32) string {
	d := rowstore.NewDec(t.Rec(row), tokenHeader)
	d.Str()
	d.Field()
	return d.Str()
}

func (t *tokenTable) get(id string) (Token, bool) {
	row, ok := t.FindID(id)
	if !ok {
		return Token{}, false
	}
	return t.decode(row), true
}

func (t *tokenTable) set(k *Token) {
	row, _ := t.Put(k.ID, t.encode(k))
	t.byPAN.Set(k.PANHash, row, t.panHashAt)
	if !slices.Contains(t.byCard[k.CardID], row) {
		t.byCard[strings.Clone(k.CardID)] = append(t.byCard[k.CardID], row)
	}
}

func (t *tokenTable) idByPANHash(h string) (string, bool) {
	row, ok := t.byPAN.Find(h, t.panHashAt)
	if !ok {
		return "", false
	}
	return t.IDAt(row), true
}

func (t *tokenTable) idsOfCard(cardID string) []string {
	rows := t.byCard[cardID]
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = t.IDAt(row)
	}
	return ids
}

// PrepareLoad prepares a recovered row for State.Load. Rows are encoded by Load itself (the
// encoding of a card names its balance's row, which only the State knows), so it returns the
// row as it is; it is kept for the journal's parallel decoding, and is safe to call from
// several goroutines.
func PrepareLoad(row any) any { return row }
