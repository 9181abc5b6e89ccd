package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// The row encoding of format 2: a hand-written binary layout per table, fields in a fixed order,
// integers as (zig-zag) varints, strings and byte slices as a uvarint length and the bytes. It
// replaced JSON (format 1) because encoding and decoding JSON was a tenth of the switch's CPU and
// most of the recovery time. A new field is added at the end of its row and the format byte is
// raised; decode keeps reading the older formats.

// errShortRow is returned when a row ends before its last field.
var errShortRow = errors.New("journal: row truncated")

type enc struct{ b []byte }

func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) bytes(s []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) i64(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// encodeRow appends the binary form of a row to dst.
func encodeRow(dst []byte, row any) ([]byte, error) {
	e := enc{b: dst}
	switch r := row.(type) {
	case *ledger.Customer:
		e.str(r.ID)
		e.str(r.ExternalID)
		e.str(r.FirstName)
		e.str(r.LastName)
		e.str(r.Email)
		e.str(r.Phone)
		e.str(r.KYC)
		e.i64(r.CreatedAtUnixNano)
		if r.State != "" || r.KYCReference != "" { // added with customer states: decoded only when present
			e.str(string(r.State))
			e.str(r.KYCReference)
		}
	case *ledger.Balance:
		e.str(r.ID)
		e.str(r.Kind)
		e.str(r.CustomerID)
		e.str(r.Program)
		e.str(r.Currency)
		e.i64(r.CurrentMinor)
		e.i64(r.HeldMinor)
		e.i64(r.CreditLimitMinor)
		e.i64(r.LowMarkMinor)
		e.str(string(r.State))
		e.i64(r.LoadedMinor)
		e.i64(r.CreatedAtUnixNano)
	case *ledger.Card:
		e.str(r.ID)
		e.str(r.BalanceID)
		e.str(r.CustomerID)
		e.str(r.Program)
		e.str(r.Type)
		e.str(string(r.State))
		e.u64(uint64(r.LockReason))
		e.str(r.PANHash)
		e.str(r.PAN)
		e.str(r.Last4)
		e.str(r.ExpiryYYMM)
		e.str(r.PSN)
		e.str(r.CVC2)
		e.str(r.PVV)
		// The wrong-card-data count shares the PIN tries field (bits 16 up), so rows written
		// before it existed decode with a count of zero.
		e.i64(int64(r.PINTries) | int64(min(r.CardDataFails, 255))<<16)
		e.i64(int64(r.HighestATC))
		e.bool(r.Personalised)
		e.i64(r.Limits.MaxAmountMinor)
		e.i64(int64(r.Limits.MaxCountPerDay))
		e.i64(r.Limits.MaxAmountPerDay)
		e.i64(r.Usage.UnixDay)
		e.i64(int64(r.Usage.Count))
		e.i64(r.Usage.AmountMinor)
		e.i64(r.CreatedAtUnixNano)
		e.u64(uint64(len(r.Labels)))
		for k, v := range r.Labels { // order is irrelevant: decoded into a map
			e.str(k)
			e.str(v)
		}
		// Added after the first binary rows, and written only while the card is locked: decoded
		// only when present (a row without it is a card not locked, or locked before it existed).
		if r.StateBeforeLock != "" {
			e.str(string(r.StateBeforeLock))
		}
	case *ledger.Token:
		e.str(r.ID)
		e.str(r.CardID)
		e.str(r.PANHash)
		e.str(r.PAN)
		e.str(r.Last4)
		e.str(r.ExpiryYYMM)
		e.str(r.PSN)
		e.str(string(r.State))
		e.str(r.Type)
		e.str(r.WalletProvider)
		e.i64(int64(r.AssuranceLevel))
		e.i64(int64(r.HighestATC))
		e.i64(r.CreatedAtUnixNano)
	case *ledger.Auth:
		e.str(r.Key)
		e.str(r.CardID)
		e.str(r.BalanceID)
		e.str(r.PartnerID)
		e.u64(uint64(r.Kind))
		e.str(string(r.State))
		e.u64(uint64(r.Action))
		e.i64(r.AmountMinor)
		e.i64(r.HeldMinor)
		e.i64(r.PostedMinor)
		e.i64(r.ExpiresAtUnixNano)
		e.i64(r.CreatedAtUnixNano)
		// Added after the first binary rows: decoded only when present.
		e.str(r.Merchant)
		e.str(r.MCC)
		fx := r.FX != nil
		if r.HasReply || fx { // added with the answer kept in the record
			e.str(r.RRN)
			e.u64(r.ReplyHash)
			encodeResponse(&e, &r.Response)
		}
		if fx { // added with cross-currency authorizations: flags (bit 0: HasReply), then FX
			var flags uint64
			if r.HasReply {
				flags = 1
			}
			e.u64(flags)
			e.str(r.FX.TxnCurrencyNum)
			e.i64(r.FX.TxnAmountMinor)
			e.str(r.FX.CompanyID)
			e.i64(r.FX.CompanyPostedMinor)
		}
	case *ledger.Agreement:
		e.str(r.Key)
		e.str(r.Reference)
		e.str(r.CardID)
		e.str(r.TokenID)
		e.str(r.CustomerID)
		e.str(r.MerchantID)
		e.str(string(r.State))
		e.bool(r.HasTerms)
		e.i64(r.MinMinor)
		e.i64(r.MaxMinor)
		e.i64(r.IntervalDays)
		e.i64(r.EndUnixDay)
		e.bool(r.InitialVerified)
		e.bool(r.Registration)
		e.u64(uint64(len(r.Payments)))
		for _, p := range r.Payments {
			e.str(p.AuthKey)
			e.i64(p.UnixDay)
		}
		e.i64(r.CreatedAtUnixNano)
		e.i64(r.LastUsedAtUnixNano)
		e.i64(r.CancelledAtUnixNano)
		e.str(r.CancelledBy)
		e.str(r.ID)
		e.str(r.InitialAuthKey)
	case *ledger.PBARecord:
		e.str(r.Key)
		e.bytes(r.Data)
	case *ledger.WalletToken:
		// JSON: a few rows per token, read only by /tsh and /admin; the wallet fields change
		// with the hub's API more often than the binary layout of a hot table should.
		b, err := json.Marshal(r)
		if err != nil {
			return dst, fmt.Errorf("journal: encode wallet token: %w", err)
		}
		e.bytes(b)
	case *ledger.Reply:
		e.str(r.Key)
		e.u64(r.ContentHash)
		encodeResponse(&e, &r.Response)
		e.i64(r.AtUnixNano)
		e.i64(r.CurrentMinor)
		e.i64(r.HeldMinor)
	case *ledger.IndexRow:
		e.str(r.Key)
		e.u64(uint64(len(r.Entries)))
		for _, x := range r.Entries {
			e.i64(x.AtUnixNano)
			e.str(x.Key)
			e.bool(x.Auth)
		}
	case *ledger.Event:
		e.u64(r.Seq)
		e.u64(uint64(r.Type))
		e.i64(r.AtUnixNano)
		e.str(r.CardID)
		e.str(r.BalanceID)
		e.str(r.Currency)
		e.str(r.AuthKey)
		e.str(r.MTI)
		e.u64(uint64(r.Kind))
		e.i64(r.AmountMinor)
		e.u64(uint64(r.Action))
		e.str(string(r.PreviousState))
		e.str(string(r.State))
		e.u64(uint64(r.PreviousLockReason))
		e.u64(uint64(r.LockReason))
		e.str(r.Source)
		e.str(r.Actor)
		e.str(r.BalanceKind)
		e.str(r.CustomerID)
		e.str(r.Program)
		e.i64(r.AvailableMinor)
		e.i64(r.ThresholdMinor)
		e.bytes(r.Payload)
		e.str(r.AgreementRef)
		e.str(r.MerchantID)
		e.str(r.TokenID)
		e.str(r.PreviousStatus) // added with balance and customer states
		e.str(r.Status)
	case *ledger.AuditRecord:
		e.u64(r.Seq)
		e.i64(r.AtUnixNano)
		e.str(r.Actor)
		e.str(r.Channel)
		e.str(r.Role)
		e.str(r.Action)
		e.str(r.ResourceType)
		e.str(r.ResourceID)
		e.bytes(r.Before)
		e.bytes(r.After)
		if r.CorrelationID != "" || r.Reason != "" { // added with the token service hub: decoded only when present
			e.str(r.CorrelationID)
		}
		if r.Reason != "" { // added with the operator panel: decoded only when present
			e.str(r.Reason)
		}
	case *ledger.LoyaltyMember:
		encodeLoyaltyMember(&e, r)
	case *ledger.LoyaltyEarning:
		encodeLoyaltyEarning(&e, r)
	case *ledger.LoyaltyConfirmation:
		encodeLoyaltyConfirmation(&e, r)
	case *ledger.LoyaltyRedemption:
		encodeLoyaltyRedemption(&e, r)
	default:
		return dst, fmt.Errorf("journal: encode: unknown row type %T", row)
	}
	return e.b, nil
}

func encodeResponse(e *enc, r *authz.Response) {
	e.u64(uint64(r.Action))
	e.str(r.AuthCode)
	e.bool(r.HasBalance)
	e.i64(r.AvailableMinor)
	e.str(r.CurrencyNum)
	e.bool(r.ICCResponse != nil)
	if r.ICCResponse != nil {
		e.bytes(r.ICCResponse)
	}
}

// dec reads a row; the first error sticks and later reads return zero values. Strings are
// substrings of one copy of the whole row (s), so a decoded row costs one allocation for all its
// strings instead of one each (recovery of a million cards: millions of allocations fewer).
type dec struct {
	b      []byte // the row
	s      string // the row as one string, made on the first string read
	pos    int
	err    error
	intern *interner
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.err = errShortRow
		return 0
	}
	d.pos += n
	return v
}

func (d *dec) i64() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.err = errShortRow
		return 0
	}
	d.pos += n
	return v
}

func (d *dec) int() int {
	v := d.i64()
	if v > math.MaxInt32 || v < math.MinInt32 {
		d.err = errShortRow
		return 0
	}
	return int(v)
}

// span reads a length-prefixed field and returns its bounds.
func (d *dec) span() (int, int) {
	n := d.uvarint()
	if d.err != nil {
		return 0, 0
	}
	if n > uint64(len(d.b)-d.pos) {
		d.err = errShortRow
		return 0, 0
	}
	from := d.pos
	d.pos += int(n)
	return from, d.pos
}

func (d *dec) raw() []byte {
	from, to := d.span()
	return d.b[from:to]
}

func (d *dec) str() string {
	from, to := d.span()
	if from == to {
		return ""
	}
	if d.s == "" {
		d.s = string(d.b)
	}
	return d.s[from:to]
}

// sym reads a string from a small set (states, kinds, programs, currencies) and shares one copy
// of it across all rows: a million cards hold one "ACTIVE", not a million.
func (d *dec) sym() string {
	b := d.raw()
	if len(b) == 0 {
		return ""
	}
	if d.intern == nil {
		return string(b)
	}
	return d.intern.get(b)
}

// response reads what encodeResponse wrote.
func (d *dec) response(r *authz.Response) {
	r.Action = authz.ActionCode(d.uvarint())
	r.AuthCode = d.str()
	r.HasBalance = d.bool()
	r.AvailableMinor = d.i64()
	r.CurrencyNum = d.sym()
	if d.bool() {
		r.ICCResponse = append([]byte{}, d.raw()...)
	}
}

func (d *dec) bool() bool {
	if d.err != nil {
		return false
	}
	if d.pos >= len(d.b) {
		d.err = errShortRow
		return false
	}
	v := d.b[d.pos] != 0
	d.pos++
	return v
}

// interner shares the copies of repeated short strings. Not safe for concurrent use: each
// decoding goroutine has its own.
type interner struct{ m map[string]string }

func newInterner() *interner { return &interner{m: make(map[string]string, 64)} }

func (in *interner) get(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < 4096 { // bounded: a symbol table, not a cache of everything
		in.m[s] = s
	}
	return s
}

// decodeRow decodes the binary form of a row of the given table into a new row.
func decodeRow(table string, b []byte, in *interner) (any, error) {
	d := dec{b: b, intern: in}
	var row any
	switch table {
	case "customer":
		r := &ledger.Customer{}
		r.ID = d.str()
		r.ExternalID = d.str()
		r.FirstName = d.str()
		r.LastName = d.str()
		r.Email = d.str()
		r.Phone = d.str()
		r.KYC = d.sym()
		r.CreatedAtUnixNano = d.i64()
		if d.pos < len(d.b) { // added with customer states
			r.State = ledger.CustomerState(d.sym())
			r.KYCReference = d.str()
		}
		row = r
	case "balance":
		r := &ledger.Balance{}
		r.ID = d.str()
		r.Kind = d.sym()
		r.CustomerID = d.str()
		r.Program = d.sym()
		r.Currency = d.sym()
		r.CurrentMinor = d.i64()
		r.HeldMinor = d.i64()
		r.CreditLimitMinor = d.i64()
		r.LowMarkMinor = d.i64()
		r.State = ledger.BalanceState(d.sym())
		r.LoadedMinor = d.i64()
		r.CreatedAtUnixNano = d.i64()
		row = r
	case "card":
		r := &ledger.Card{}
		r.ID = d.str()
		r.BalanceID = d.str()
		r.CustomerID = d.str()
		r.Program = d.sym()
		r.Type = d.sym()
		r.State = authz.CardState(d.sym())
		r.LockReason = authz.LockReason(d.uvarint())
		r.PANHash = d.str()
		r.PAN = d.str()
		r.Last4 = d.str()
		r.ExpiryYYMM = d.sym()
		r.PSN = d.sym()
		r.CVC2 = d.str()
		r.PVV = d.str()
		tries := d.int()
		r.PINTries, r.CardDataFails = tries&0xFFFF, tries>>16
		r.HighestATC = d.int()
		r.Personalised = d.bool()
		r.Limits.MaxAmountMinor = d.i64()
		r.Limits.MaxCountPerDay = d.int()
		r.Limits.MaxAmountPerDay = d.i64()
		r.Usage.UnixDay = d.i64()
		r.Usage.Count = d.int()
		r.Usage.AmountMinor = d.i64()
		r.CreatedAtUnixNano = d.i64()
		if n := d.uvarint(); n > 0 && d.err == nil {
			if n > uint64(len(d.b)-d.pos) {
				return nil, errShortRow
			}
			r.Labels = make(map[string]string, n)
			for range n {
				k := d.str()
				r.Labels[k] = d.str()
			}
		}
		if d.pos < len(d.b) && d.err == nil {
			switch st := authz.CardState(d.sym()); st {
			case ledger.CardActive, ledger.CardInactive: // the only states a lock remembers
				r.StateBeforeLock = st
			default:
				if d.err == nil {
					return nil, fmt.Errorf("journal: decode card: state before lock %q", st)
				}
			}
		}
		row = r
	case "token":
		r := &ledger.Token{}
		r.ID = d.str()
		r.CardID = d.str()
		r.PANHash = d.str()
		r.PAN = d.str()
		r.Last4 = d.str()
		r.ExpiryYYMM = d.sym()
		r.PSN = d.sym()
		r.State = authz.TokenState(d.sym())
		r.Type = d.sym()
		r.WalletProvider = d.sym()
		r.AssuranceLevel = d.int()
		r.HighestATC = d.int()
		r.CreatedAtUnixNano = d.i64()
		row = r
	case "auth":
		r := &ledger.Auth{}
		r.Key = d.str()
		r.CardID = d.str()
		r.BalanceID = d.str()
		r.PartnerID = d.sym()
		r.Kind = authz.Kind(d.uvarint())
		r.State = ledger.AuthState(d.sym())
		r.Action = authz.ActionCode(d.uvarint())
		r.AmountMinor = d.i64()
		r.HeldMinor = d.i64()
		r.PostedMinor = d.i64()
		r.ExpiresAtUnixNano = d.i64()
		r.CreatedAtUnixNano = d.i64()
		if d.pos < len(d.b) {
			r.Merchant = d.str()
			r.MCC = d.sym()
		}
		if d.pos < len(d.b) {
			r.HasReply = true
			r.RRN = d.str()
			r.ReplyHash = d.uvarint()
			d.response(&r.Response)
		}
		if d.pos < len(d.b) { // a cross-currency authorization's record
			r.HasReply = d.uvarint()&1 != 0
			r.FX = &ledger.AuthFX{TxnCurrencyNum: d.sym(), TxnAmountMinor: d.i64(), CompanyID: d.sym(), CompanyPostedMinor: d.i64()}
		}
		row = r
	case ledger.TablePBA:
		r := &ledger.PBARecord{Key: d.str()}
		r.Data = append([]byte(nil), d.raw()...)
		row = r
	case ledger.TableAgreement:
		r := &ledger.Agreement{}
		r.Key = d.str()
		r.Reference = d.str()
		r.CardID = d.str()
		r.TokenID = d.str()
		r.CustomerID = d.str()
		r.MerchantID = d.str()
		r.State = ledger.AgreementState(d.sym())
		r.HasTerms = d.bool()
		r.MinMinor = d.i64()
		r.MaxMinor = d.i64()
		r.IntervalDays = d.i64()
		r.EndUnixDay = d.i64()
		r.InitialVerified = d.bool()
		r.Registration = d.bool()
		if n := d.uvarint(); n > 0 && d.err == nil {
			if n > uint64(len(d.b)-d.pos) {
				return nil, errShortRow
			}
			r.Payments = make([]ledger.AgreementPayment, 0, n)
			for range n {
				r.Payments = append(r.Payments, ledger.AgreementPayment{AuthKey: d.str(), UnixDay: d.i64()})
			}
		}
		r.CreatedAtUnixNano = d.i64()
		r.LastUsedAtUnixNano = d.i64()
		r.CancelledAtUnixNano = d.i64()
		r.CancelledBy = d.sym()
		r.ID = d.str()
		r.InitialAuthKey = d.str()
		row = r
	case "reply":
		r := &ledger.Reply{}
		r.Key = d.str()
		r.ContentHash = d.uvarint()
		d.response(&r.Response)
		r.AtUnixNano = d.i64()
		r.CurrentMinor = d.i64()
		r.HeldMinor = d.i64()
		row = r
	case ledger.TableExpiry, ledger.TableAging, ledger.TableArchiving:
		r := &ledger.IndexRow{}
		r.Key = d.str()
		if n := d.uvarint(); n > 0 && d.err == nil {
			if n > uint64(len(d.b)-d.pos) {
				return nil, errShortRow
			}
			r.Entries = make([]ledger.IndexEntry, 0, n)
			for range n {
				r.Entries = append(r.Entries, ledger.IndexEntry{AtUnixNano: d.i64(), Key: d.str(), Auth: d.bool()})
			}
		}
		row = r
	case ledger.TableWalletToken:
		r := &ledger.WalletToken{}
		if b := d.raw(); d.err == nil {
			if err := json.Unmarshal(b, r); err != nil {
				return nil, fmt.Errorf("journal: decode %s: %w", table, err)
			}
		}
		row = r
	case ledger.TableEvent:
		r := &ledger.Event{}
		r.Seq = d.uvarint()
		r.Type = ledger.EventType(d.uvarint())
		r.AtUnixNano = d.i64()
		r.CardID = d.str()
		r.BalanceID = d.str()
		r.Currency = d.sym()
		r.AuthKey = d.str()
		r.MTI = d.sym()
		r.Kind = authz.Kind(d.uvarint())
		r.AmountMinor = d.i64()
		r.Action = authz.ActionCode(d.uvarint())
		r.PreviousState = authz.CardState(d.sym())
		r.State = authz.CardState(d.sym())
		r.PreviousLockReason = authz.LockReason(d.uvarint())
		r.LockReason = authz.LockReason(d.uvarint())
		r.Source = d.str()
		r.Actor = d.str()
		r.BalanceKind = d.sym()
		r.CustomerID = d.str()
		r.Program = d.sym()
		r.AvailableMinor = d.i64()
		r.ThresholdMinor = d.i64()
		if d.pos < len(d.b) { // absent from the first event rows written
			if b := d.raw(); len(b) > 0 {
				r.Payload = append([]byte(nil), b...)
			}
		}
		if d.pos < len(d.b) { // added with stored-credential agreements
			r.AgreementRef = d.str()
			r.MerchantID = d.str()
			r.TokenID = d.str()
		}
		if d.pos < len(d.b) { // added with balance and customer states
			r.PreviousStatus = d.sym()
			r.Status = d.sym()
		}
		row = r
	case ledger.TableAudit:
		r := &ledger.AuditRecord{}
		r.Seq = d.uvarint()
		r.AtUnixNano = d.i64()
		r.Actor = d.str()
		r.Channel = d.str()
		r.Role = d.str()
		r.Action = d.str()
		r.ResourceType = d.str()
		r.ResourceID = d.str()
		if b := d.raw(); len(b) > 0 {
			r.Before = append([]byte(nil), b...)
		}
		if b := d.raw(); len(b) > 0 {
			r.After = append([]byte(nil), b...)
		}
		if d.pos < len(d.b) { // added with the token service hub
			r.CorrelationID = d.str()
		}
		if d.pos < len(d.b) { // added with the operator panel
			r.Reason = d.str()
		}
		row = r
	case ledger.TableLoyaltyMember:
		row = decodeLoyaltyMember(&d)
	case ledger.TableLoyaltyEarning:
		row = decodeLoyaltyEarning(&d)
	case ledger.TableLoyaltyConfirmation:
		row = decodeLoyaltyConfirmation(&d)
	case ledger.TableLoyaltyRedemption:
		row = decodeLoyaltyRedemption(&d)
	default:
		return nil, fmt.Errorf("journal: decode: unknown table %q", table)
	}
	if d.err != nil {
		return nil, fmt.Errorf("journal: decode %s: %w", table, d.err)
	}
	if d.pos != len(d.b) {
		return nil, fmt.Errorf("journal: decode %s: %d trailing bytes", table, len(d.b)-d.pos)
	}
	return row, nil
}
