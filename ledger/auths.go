package ledger

import (
	"encoding/binary"

	"github.com/cardswitch/cardswitch/authz"
)

// The auth records and remembered replies: a row of each per message, deleted by retention, so
// their slots and row numbers are reused and reads copy the strings out (store.go).

// Auth record layout: the header, then Key, CardID, BalanceID, PartnerID, Merchant, MCC, and for
// a record that keeps its message's answer (HasReply) the reply part: flags, hash, action,
// available, RRN, AuthCode, CurrencyNum, ICCResponse.
const (
	authKind      = 0  // u8
	authState     = 1  // u16 symbol
	authAction    = 3  // u16
	authAmount    = 5  // i64
	authHeld      = 13 // i64
	authPosted    = 21 // i64
	authExpiresAt = 29 // i64
	authCreatedAt = 37 // i64
	authHeader    = 45
)

type authTable struct {
	rowStore
	byKey   index
	refs    *refs // the card and balance tables, for CardID, BalanceID and PartnerID
	scratch recEnc
}

func newAuthTable(r *refs) *authTable { return &authTable{byKey: newIndex(), refs: r} }

func (t *authTable) keyAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: authHeader}
	return d.str()
}

func (t *authTable) find(key string) (uint32, bool) { return t.byKey.find(key, t.keyAt) }

func (t *authTable) get(key string) (Auth, bool) {
	row, ok := t.find(key)
	if !ok {
		return Auth{}, false
	}
	return t.decode(row), true
}

func (t *authTable) encode(a *Auth) []byte {
	e := &t.scratch
	e.b = e.b[:0]
	e.u8(uint8(a.Kind))
	e.u16(sym(string(a.State)))
	e.u16(uint16(a.Action))
	e.i64(a.AmountMinor)
	e.i64(a.HeldMinor)
	e.i64(a.PostedMinor)
	e.i64(a.ExpiresAt)
	e.i64(a.CreatedAt)
	e.str(a.Key)
	t.refs.card(e, a.CardID)
	t.refs.balance(e, a.BalanceID)
	t.refs.balance(e, a.PartnerID)
	e.str(a.Merchant)
	e.str(a.MCC)
	if a.HasReply {
		r := &a.Response
		e.u8(responseFlags(r))
		e.u64(a.ReplyHash)
		e.u16(uint16(r.Action))
		e.i64(r.AvailableMinor)
		e.str(a.RRN)
		e.str(r.AuthCode)
		e.str(r.CurrencyNum)
		e.str(view(r.ICCResponse))
	}
	return e.b
}

// decode copies the row out: its slot may be rewritten or reused once the lock is released.
func (t *authTable) decode(row uint32) Auth {
	rec := t.rec(row)
	h := recDec{s: view(rec)}
	a := Auth{Kind: authz.Kind(h.u8()), State: AuthState(symName(h.u16())), Action: authz.ActionCode(h.u16()),
		AmountMinor: h.i64(), HeldMinor: h.i64(), PostedMinor: h.i64(), ExpiresAt: h.i64(),
		CreatedAt: h.i64()}
	d := recDec{s: string(rec[authHeader:])} // one allocation for all the strings
	a.Key = d.str()
	a.CardID = t.refs.cardField(&d)
	a.BalanceID = t.refs.balanceField(&d)
	a.PartnerID = t.refs.balanceField(&d)
	a.Merchant = d.str()
	a.MCC = d.str()
	if d.i < len(d.s) {
		a.HasReply = true
		r := &a.Response
		flags := d.u8()
		a.ReplyHash = d.u64()
		r.Action = authz.ActionCode(d.u16())
		r.AvailableMinor = d.i64()
		r.HasBalance = flags&replyHasBalance != 0
		a.RRN = d.str()
		r.AuthCode = d.str()
		r.CurrencyNum = d.str()
		if icc := d.str(); flags&replyHasICC != 0 {
			r.ICCResponse = []byte(icc)
		}
	}
	return a
}

// authHead is what the expiry index needs of a row, read without copying its strings.
type authHead struct {
	state     uint16
	held      int64
	expiresAt int64
	createdAt int64
}

func (t *authTable) head(row uint32) authHead {
	rec := t.rec(row)
	return authHead{state: binary.LittleEndian.Uint16(rec[authState:]),
		held:      int64(binary.LittleEndian.Uint64(rec[authHeld:])),
		expiresAt: int64(binary.LittleEndian.Uint64(rec[authExpiresAt:])),
		createdAt: int64(binary.LittleEndian.Uint64(rec[authCreatedAt:]))}
}

// holds reports whether the row is an open hold that expires at at.
func (h authHead) holds(at int64) bool {
	return h.state == symAuthOpen && h.held != 0 && h.expiresAt == at
}

// set stores a, returning its row and, when it replaced a row, the replaced row's head.
func (t *authTable) set(a *Auth) (row uint32, prev authHead, existed bool) {
	rec := t.encode(a)
	if row, existed = t.find(a.Key); existed {
		prev = t.head(row)
		t.update(row, rec)
		return row, prev, true
	}
	row = t.add(rec)
	t.byKey.set(a.Key, row, t.keyAt)
	return row, authHead{}, false
}

func (t *authTable) del(key string) {
	if row, ok := t.find(key); ok {
		t.byKey.remove(key, t.keyAt)
		t.remove(row)
	}
}

func (t *authTable) size() int { return t.live }

func (t *authTable) each(f func(a *Auth) bool) {
	for row := range t.loc {
		if t.loc[row] == 0 {
			continue
		}
		a := t.decode(uint32(row))
		if !f(&a) {
			return
		}
	}
}

// Reply layout: the header, then Key, AuthCode, CurrencyNum, ICCResponse.
const (
	replyHash      = 0  // u64
	replyAction    = 8  // u16
	replyFlags     = 10 // u8: replyHasBalance, replyHasICC
	replyAvailable = 11 // i64
	replyAt        = 19 // i64
	replyCurrent   = 27 // i64
	replyHeldMinor = 35 // i64
	replyHeader    = 43

	replyHasBalance = 1
	replyHasICC     = 2 // ICCResponse is not nil (an empty one stays empty)
)

type replyTable struct {
	rowStore
	byKey   index
	scratch recEnc
}

func newReplyTable() *replyTable { return &replyTable{byKey: newIndex()} }

func (t *replyTable) keyAt(row uint32) string {
	d := recDec{s: view(t.rec(row)), i: replyHeader}
	return d.str()
}

func (t *replyTable) find(key string) (uint32, bool) { return t.byKey.find(key, t.keyAt) }

func (t *replyTable) get(key string) (Reply, bool) {
	row, ok := t.find(key)
	if !ok {
		return Reply{}, false
	}
	return t.decode(row), true
}

func (t *replyTable) encode(r *Reply) []byte {
	e := &t.scratch
	e.b = e.b[:0]
	e.u64(r.ContentHash)
	e.u16(uint16(r.Response.Action))
	e.u8(responseFlags(&r.Response))
	e.i64(r.Response.AvailableMinor)
	e.i64(r.At)
	e.i64(r.CurrentMinor)
	e.i64(r.HeldMinor)
	e.str(r.Key)
	e.str(r.Response.AuthCode)
	e.str(r.Response.CurrencyNum)
	e.str(view(r.Response.ICCResponse))
	return e.b
}

func (t *replyTable) decode(row uint32) Reply {
	rec := t.rec(row)
	h := recDec{s: view(rec)}
	r := Reply{ContentHash: h.u64()}
	r.Response.Action = authz.ActionCode(h.u16())
	flags := h.u8()
	r.Response.HasBalance = flags&replyHasBalance != 0
	r.Response.AvailableMinor, r.At, r.CurrentMinor, r.HeldMinor = h.i64(), h.i64(), h.i64(), h.i64()
	d := recDec{s: string(rec[replyHeader:])}
	r.Key = d.str()
	r.Response.AuthCode = d.str()
	r.Response.CurrencyNum = d.str()
	if icc := d.str(); flags&replyHasICC != 0 {
		r.Response.ICCResponse = []byte(icc) // a []byte of its own: the caller may keep it
	}
	return r
}

func (t *replyTable) at(row uint32) int64 {
	return int64(binary.LittleEndian.Uint64(t.rec(row)[replyAt:]))
}

// set stores r and reports whether it replaced a row.
func (t *replyTable) set(r *Reply) (row uint32, existed bool) {
	rec := t.encode(r)
	if row, existed = t.find(r.Key); existed {
		t.update(row, rec)
		return row, true
	}
	row = t.add(rec)
	t.byKey.set(r.Key, row, t.keyAt)
	return row, false
}

func (t *replyTable) del(key string) {
	if row, ok := t.find(key); ok {
		t.byKey.remove(key, t.keyAt)
		t.remove(row)
	}
}

func (t *replyTable) size() int { return t.live }

// responseFlags are the replyHas* bits of an answer, as a reply row and an auth record that
// keeps its answer store them.
func responseFlags(r *authz.Response) uint8 {
	var flags uint8
	if r.HasBalance {
		flags |= replyHasBalance
	}
	if r.ICCResponse != nil {
		flags |= replyHasICC
	}
	return flags
}
