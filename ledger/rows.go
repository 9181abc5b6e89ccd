package ledger

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cardswitch/cardswitch/authz"
)

// The committed rows are kept in tables behind one small interface, so that the tables that
// hold a row per card (cards, balances, customers: millions of rows) can keep them packed: the
// strings of a row in one allocation with offsets, names from small sets (states, types,
// programs, currencies) as 16-bit symbols. A packed row is unpacked into the exported struct on
// read without allocating (the strings are substrings of the packed one). The Tx overlay works
// on the exported structs; rows are packed when a batch is merged.

// rowTable is a table of committed rows keyed by id.
type rowTable[T any] interface {
	get(id string) (T, bool)
	set(id string, v *T) // v is owned by the table from then on
	del(id string)
	size() int
	// each calls f for every row until it returns false; *T is valid only during the call.
	each(f func(v *T) bool)
}

// table keeps rows as pointers to the exported structs (tokens, auth records, replies).
type table[T any] struct{ rows map[string]*T }

func newTable[T any]() *table[T] { return &table[T]{rows: map[string]*T{}} }

func (t *table[T]) get(id string) (T, bool) {
	if v, ok := t.rows[id]; ok {
		return *v, true
	}
	var zero T
	return zero, false
}
func (t *table[T]) set(id string, v *T) { t.rows[id] = v }
func (t *table[T]) del(id string)       { delete(t.rows, id) }
func (t *table[T]) size() int           { return len(t.rows) }
func (t *table[T]) each(f func(v *T) bool) {
	for _, v := range t.rows {
		if !f(v) {
			return
		}
	}
}

// packedTable keeps rows packed by a codec P.
type packedTable[T any, P any] struct {
	rows   map[string]*P
	pack   func(*T) *P
	unpack func(*P) T
	key    func(*P) string // the id as a substring of the packed row (no second copy as map key)
	// repack, when set, packs a new version of a row reusing what it can of the old one.
	repack func(old *P, v *T) *P
}

func (t *packedTable[T, P]) get(id string) (T, bool) {
	if p, ok := t.rows[id]; ok {
		return t.unpack(p), true
	}
	var zero T
	return zero, false
}
func (t *packedTable[T, P]) set(id string, v *T) {
	var p *P
	if old, ok := t.rows[id]; ok && t.repack != nil {
		p = t.repack(old, v)
	} else {
		p = t.pack(v)
	}
	if k := t.key(p); k == id {
		id = k
	}
	t.rows[id] = p
}

// setPacked stores a row packed beforehand (recovery: PrepareLoad).
func (t *packedTable[T, P]) setPacked(p *P) { t.rows[t.key(p)] = p }

func (t *packedTable[T, P]) del(id string) { delete(t.rows, id) }
func (t *packedTable[T, P]) size() int     { return len(t.rows) }
func (t *packedTable[T, P]) each(f func(v *T) bool) {
	for _, p := range t.rows {
		v := t.unpack(p)
		if !f(&v) {
			return
		}
	}
}

// Symbols: the names of small sets, shared by every State of the process. Reads are lock-free
// (an append-only slice published atomically); new names are added under a mutex.
var symbols struct {
	mu    sync.Mutex
	idx   map[string]uint16
	names atomic.Pointer[[]string]
}

func init() {
	symbols.idx = map[string]uint16{"": 0}
	names := []string{""}
	symbols.names.Store(&names)
}

// sym returns the symbol of a name, adding it on first use.
func sym(name string) uint16 {
	if name == "" {
		return 0
	}
	symbols.mu.Lock()
	defer symbols.mu.Unlock()
	if i, ok := symbols.idx[name]; ok {
		return i
	}
	old := *symbols.names.Load()
	if len(old) >= 1<<16 {
		panic("ledger: more than 65535 distinct state, type, program and currency names")
	}
	name = strings.Clone(name)
	names := append(old[:len(old):len(old)], name)
	symbols.idx[name] = uint16(len(old))
	symbols.names.Store(&names)
	return uint16(len(old))
}

func symName(i uint16) string { return (*symbols.names.Load())[i] }

// packer builds the one string of a packed row and records where each field ends (in the
// row's own array: no allocation besides the string).
type packer struct {
	b    strings.Builder
	ends []uint16
	n    int
}

func (p *packer) add(s string) {
	p.b.WriteString(s)
	if p.b.Len() > 1<<16-1 {
		panic("ledger: packed row longer than 64 KiB")
	}
	p.ends[p.n] = uint16(p.b.Len())
	p.n++
}

// field i of a packed string.
func field(s string, ends []uint16, i int) string {
	from := 0
	if i > 0 {
		from = int(ends[i-1])
	}
	return s[from:ends[i]]
}

// cardRow is a packed Card: about 200 bytes instead of about 450.
type cardRow struct {
	s                    string     // ID, BalanceID, CustomerID, PANHash, PAN, Last4, ExpiryYYMM, PSN, CVC2, PVV
	ends                 [10]uint16 // end offsets of those fields in s
	program, typ, state  uint16
	lock                 uint8
	personalised         bool
	pinTries, highestATC int32
	cardDataFails        uint8
	createdAt            int64
	ext                  *cardExt // nil when the card has no limits, usage or labels
}

type cardExt struct {
	limits Limits
	usage  Usage
	labels map[string]string
}

func packCard(c *Card) *cardRow {
	r := &cardRow{program: sym(c.Program), typ: sym(c.Type), state: sym(c.State),
		lock: uint8(c.LockReason), personalised: c.Personalised, pinTries: int32(c.PINTries),
		cardDataFails: uint8(min(c.CardDataFails, 255)),
		highestATC:    int32(c.HighestATC), createdAt: c.CreatedAt}
	p := packer{ends: r.ends[:]}
	p.b.Grow(len(c.ID) + len(c.BalanceID) + len(c.CustomerID) + len(c.PANHash) + len(c.PAN) +
		len(c.Last4) + len(c.ExpiryYYMM) + len(c.PSN) + len(c.CVC2) + len(c.PVV))
	for _, s := range [...]string{c.ID, c.BalanceID, c.CustomerID, c.PANHash, c.PAN, c.Last4, c.ExpiryYYMM, c.PSN, c.CVC2, c.PVV} {
		p.add(s)
	}
	r.s = p.b.String()
	if c.Limits != (Limits{}) || c.Usage != (Usage{}) || c.Labels != nil {
		r.ext = &cardExt{limits: c.Limits, usage: c.Usage, labels: c.Labels}
	}
	return r
}

func unpackCard(r *cardRow) Card {
	e := r.ends[:]
	c := Card{ID: field(r.s, e, 0), BalanceID: field(r.s, e, 1), CustomerID: field(r.s, e, 2),
		PANHash: field(r.s, e, 3), PAN: field(r.s, e, 4), Last4: field(r.s, e, 5),
		ExpiryYYMM: field(r.s, e, 6), PSN: field(r.s, e, 7), CVC2: field(r.s, e, 8), PVV: field(r.s, e, 9),
		Program: symName(r.program), Type: symName(r.typ), State: symName(r.state),
		LockReason: authz.LockReason(r.lock), Personalised: r.personalised, PINTries: int(r.pinTries),
		CardDataFails: int(r.cardDataFails),
		HighestATC:    int(r.highestATC), CreatedAt: r.createdAt}
	if r.ext != nil {
		c.Limits, c.Usage, c.Labels = r.ext.limits, r.ext.usage, r.ext.labels
	}
	return c
}

func newCardTable() *packedTable[Card, cardRow] {
	return &packedTable[Card, cardRow]{rows: map[string]*cardRow{}, pack: packCard, unpack: unpackCard,
		key: func(r *cardRow) string { return r.s[:r.ends[0]] }}
}

// customerRow is a packed Customer.
type customerRow struct {
	s         string    // ID, ExternalID, FirstName, LastName, Email, Phone
	ends      [6]uint16 // end offsets
	kyc       uint16
	createdAt int64
}

func packCustomer(c *Customer) *customerRow {
	r := &customerRow{kyc: sym(c.KYC), createdAt: c.CreatedAt}
	p := packer{ends: r.ends[:]}
	p.b.Grow(len(c.ID) + len(c.ExternalID) + len(c.FirstName) + len(c.LastName) + len(c.Email) + len(c.Phone))
	for _, s := range [...]string{c.ID, c.ExternalID, c.FirstName, c.LastName, c.Email, c.Phone} {
		p.add(s)
	}
	r.s = p.b.String()
	return r
}

func unpackCustomer(r *customerRow) Customer {
	e := r.ends[:]
	return Customer{ID: field(r.s, e, 0), ExternalID: field(r.s, e, 1), FirstName: field(r.s, e, 2),
		LastName: field(r.s, e, 3), Email: field(r.s, e, 4), Phone: field(r.s, e, 5),
		KYC: symName(r.kyc), CreatedAt: r.createdAt}
}

func newCustomerTable() *packedTable[Customer, customerRow] {
	return &packedTable[Customer, customerRow]{rows: map[string]*customerRow{}, pack: packCustomer,
		unpack: unpackCustomer, key: func(r *customerRow) string { return r.s[:r.ends[0]] }}
}

// balanceRow is a packed Balance. It is rewritten by every approval, so repacking reuses the
// old row's id string and allocates only the new fixed-size row.
type balanceRow struct {
	ids                             string // ID then CustomerID
	idEnd                           uint16
	kind, program, currency, state  uint16
	current, held, creditLimit, low int64
	loaded, createdAt               int64
}

func packBalance(b *Balance) *balanceRow {
	r := &balanceRow{}
	fillBalance(r, b)
	if len(b.ID)+len(b.CustomerID) > 1<<16-1 {
		panic("ledger: balance ids longer than 64 KiB")
	}
	r.ids, r.idEnd = b.ID+b.CustomerID, uint16(len(b.ID))
	return r
}

func repackBalance(old *balanceRow, b *Balance) *balanceRow {
	if old.ids[:old.idEnd] != b.ID || old.ids[old.idEnd:] != b.CustomerID {
		return packBalance(b)
	}
	r := &balanceRow{ids: old.ids, idEnd: old.idEnd}
	fillBalance(r, b)
	return r
}

func fillBalance(r *balanceRow, b *Balance) {
	r.kind, r.program, r.currency, r.state = sym(b.Kind), sym(b.Program), sym(b.Currency), sym(b.State)
	r.current, r.held, r.creditLimit, r.low = b.CurrentMinor, b.HeldMinor, b.CreditLimitMinor, b.LowMarkMinor
	r.loaded, r.createdAt = b.LoadedMinor, b.CreatedAt
}

func unpackBalance(r *balanceRow) Balance {
	return Balance{ID: r.ids[:r.idEnd], Kind: symName(r.kind), CustomerID: r.ids[r.idEnd:],
		Program: symName(r.program), Currency: symName(r.currency), CurrentMinor: r.current,
		HeldMinor: r.held, CreditLimitMinor: r.creditLimit, LowMarkMinor: r.low,
		State: symName(r.state), LoadedMinor: r.loaded, CreatedAt: r.createdAt}
}

func newBalanceTable() *packedTable[Balance, balanceRow] {
	return &packedTable[Balance, balanceRow]{rows: map[string]*balanceRow{}, pack: packBalance,
		unpack: unpackBalance, repack: repackBalance, key: func(r *balanceRow) string { return r.ids[:r.idEnd] }}
}

// PrepareLoad packs a recovered row (*Card, *Customer, *Balance) for State.Load; other rows are
// returned as they are. It is pure and safe to call from several goroutines, so recovery packs
// in parallel and State.Load, which runs on one goroutine, only inserts.
func PrepareLoad(row any) any {
	switch r := row.(type) {
	case *Card:
		return packCard(r)
	case *Customer:
		return packCustomer(r)
	case *Balance:
		return packBalance(r)
	}
	return row
}
