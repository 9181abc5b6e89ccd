package ledger

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// DefaultHoldTTL is how long an authorization hold lives before it is released automatically.
const DefaultHoldTTL = 7 * 24 * time.Hour

// ProgramPolicy is what the ledger needs to know of a card program.
type ProgramPolicy struct {
	Name             string
	PartnerBalanceID string // "" when the program has no partner balance
	// TokensOnly: the program's cards are internal account records that authorize only through
	// their tokens (Pay by Account, ledger/pba.go).
	TokensOnly bool
}

// Verifier runs the card-security checks (CVC2/CVV/iCVV, PIN, ARQC) for a request on a card.
// It is pure and keeps no state between calls: keys are its own, results are values. The engine
// calls it inside the batch, so it sees the card exactly as the decision does (a CVC2 reset or a
// new PIN applies at once).
type Verifier interface {
	Verify(req *authz.Request, card *Card, token *Token) Checks
	// ICCResponse builds field 55 (tag 91: ARPC and ARC) for a request whose ARQC was checked,
	// from the session its Verify returned in Checks.ICC.
	ICCResponse(icc tokenvault.ICCSession, action authz.ActionCode) []byte
}

// Checks are the results of the security checks.
type Checks struct {
	CardData   authz.CheckResult
	PIN        authz.CheckResult
	Cryptogram authz.CheckResult
	ATC        int  // application transaction counter of a checked ARQC
	ARQCSeen   bool // the request carried an ARQC that was checked: answer with tag 91
	// ICC carries what the ARQC check derived to the answer's ARPC (opaque to the ledger).
	ICC tokenvault.ICCSession
}

// Env is what the engine passes to every command of a batch.
type Env struct {
	Now       time.Time
	HoldTTL   time.Duration
	Verifier  Verifier // nil: no security checks (tests of accounting only)
	Program   func(name string) (ProgramPolicy, bool)
	PANHasher func(pan string) string
	// AuthorizationEvents records authorization.decided for every decided money message, in
	// its batch (a row per message: only when something delivers them, i.e. a webhook is
	// configured). State changes and balance.low are always recorded.
	AuthorizationEvents bool
	// FX converts cross-currency authorizations and names the company balances (fx.go); nil:
	// an authorization in another currency than its balance's is declined 1030.
	FX *FXTable
	// Loyalty are the rewards programmes points are earned in (nil: none; loyalty.go).
	Loyalty *LoyaltyRules
}

// MessageKey is the idempotency key of contract §2: MTI (repeats folded), field 11, field 7,
// field 32 and field 37.
func MessageKey(r *authz.Request) string {
	return r.BaseMTI + "|" + r.STAN + "|" + r.F7 + "|" + pad11(r.AcquirerID) + "|" + r.RRN
}

// OriginalKey is the part of a request's key that field 90 of a later message names.
func OriginalKey(mti, stan, f7, acquirer string) string {
	return mti + "|" + stan + "|" + f7 + "|" + pad11(acquirer)
}

func pad11(s string) string {
	if len(s) >= 11 {
		return s
	}
	return strings.Repeat("0", 11-len(s)) + s
}

// ContentHash fingerprints what a retransmission must repeat exactly.
func ContentHash(r *authz.Request) uint64 {
	h := fnv.New64a()
	for _, s := range []string{r.PAN, r.ProcessingCode, strconv.FormatInt(r.AmountMinor, 10),
		r.CurrencyNum, r.ExpiryYYMM, r.TerminalID, r.MerchantID, r.NetworkCode,
		strconv.FormatInt(r.ReplacementAmountMinor, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if o := r.Original; o != nil {
		h.Write([]byte(o.MTI + o.STAN + o.F7 + pad11(o.AcquirerID)))
	}
	return h.Sum64()
}

// Process applies one money message (0100, 0120, 0200, 0220, 0400, 0420 and repeats) and returns
// its answer. Retransmissions get the remembered answer; the answer is remembered in the batch.
func (tx *Tx) Process(req *authz.Request, env *Env) authz.Response {
	key := MessageKey(req)
	hash := ContentHash(req)
	if prev, ok := tx.Reply(key); ok {
		if prev.ContentHash == hash {
			return prev.Response
		}
		return authz.Response{Action: authz.DuplicateMismatch}
	}
	var resp authz.Response
	switch req.Kind {
	case authz.KindAuthorization, authz.KindBalanceInquiry, authz.KindFinancial,
		authz.KindRefund, authz.KindAuthAdvice:
		okey := OriginalKey(req.BaseMTI, req.STAN, req.F7, req.AcquirerID)
		// The answer to an original that created its auth record is kept in the record.
		if a, ok := tx.Auth(okey); ok && a.HasReply && a.RRN == req.RRN {
			if a.ReplyHash == hash {
				return a.Response
			}
			return authz.Response{Action: authz.DuplicateMismatch}
		}
		var recorded bool
		resp, recorded = tx.original(req, env, okey)
		if a := tx.auths.dirty[okey]; recorded && a != nil {
			a.HasReply, a.RRN, a.ReplyHash, a.Response = true, req.RRN, hash, resp
			if env.AuthorizationEvents {
				tx.emitDecided(req, resp, env)
			}
			return resp
		}
	case authz.KindCompletion:
		resp = tx.completion(req, env)
	case authz.KindReversal, authz.KindReversalAdvice:
		resp = tx.reversal(req, env)
	default:
		return authz.Response{Action: authz.FormatError}
	}
	tx.PutReply(Reply{Key: key, ContentHash: hash, Response: resp, AtUnixNano: env.Now.UnixNano()})
	if env.AuthorizationEvents {
		tx.emitDecided(req, resp, env)
	}
	return resp
}

// resolved is a card found by PAN or token PAN.
type resolved struct {
	card  Card
	token *Token
	ok    bool
}

// resolve finds the card (and token) of a PAN through the token vault, over this batch's view.
func (tx *Tx) resolve(pan string, env *Env) resolved {
	c, t, ok := tokenvault.Resolve[Card, Token]((*panLookup)(tx), env.PANHasher, tokenvault.PAN(pan))
	return resolved{card: c, token: t, ok: ok}
}

// panLookup is the token vault's view of a Tx (tokenvault.Lookup): one index probe for a card
// PAN, the batch's own changes included.
type panLookup Tx

func (l *panLookup) CardByPANHash(h string) (Card, bool) { return (*Tx)(l).cardByPANHash(h) }
func (l *panLookup) TokenByPANHash(h string) (Token, bool) {
	id, ok := (*Tx)(l).TokenIDByPANHash(h)
	if !ok {
		return Token{}, false
	}
	return (*Tx)(l).Token(id)
}
func (l *panLookup) CardOfToken(t *Token) (Card, bool) { return (*Tx)(l).Card(t.CardID) }

// cardPresent reports whether the card itself was read at the terminal (chip, contactless or
// magnetic stripe): such a request was made with the plastic, not with the virtual card.
func cardPresent(req *authz.Request) bool {
	if len(req.ICC) > 0 || req.Track2 != "" {
		return true
	}
	m := req.POSEntryMode
	return len(m) >= 2 && (m[:2] == "05" || m[:2] == "07" || m[:2] == "90")
}

// plasticOf returns the digital-first physical copy of a virtual card when there is one: it shares
// the virtual card's PAN, and a card-present request is decided on its record. The two records
// share the card's condition (twin.go: one CVC2, one PIN, one lock, the counters), so what
// differs is the plastic's own lifecycle: a plastic not yet activated is declined at the
// terminal while the virtual card works online.
func (tx *Tx) plasticOf(c Card) Card {
	if c.Type != CardVirtual {
		return c
	}
	for _, id := range tx.CardIDsOfBalance(c.BalanceID) {
		if id == c.ID {
			continue
		}
		if other, ok := tx.Card(id); ok && other.Type == CardDigitalFirst && other.PANHash == c.PANHash {
			return other
		}
	}
	return c
}

// original handles a request that is its own original: authorization, balance inquiry, financial,
// refund and authorization advice. It goes resolve -> gather -> authz.Decide -> book, and reports
// whether it stored the auth record of the message (recorded): Process keeps the answer in it.
func (tx *Tx) original(req *authz.Request, env *Env, okey string) (resp authz.Response, recorded bool) {
	prior, hasPrior := tx.Auth(okey)
	if hasPrior && prior.State != AuthReversedFirst && prior.State != AuthCaptured {
		// Same MTI, STAN, field 7 and acquirer but another RRN: field 90 could not tell the two
		// apart, so the second is refused as a duplicate.
		return authz.Response{Action: authz.DuplicateMismatch}, false
	}
	// The resolved card is passed by pointer to the Verifier (an interface), which would move a
	// local to the heap on every message: the Tx's scratch copy is reused instead (one goroutine
	// uses a Tx, and a message is processed entirely before the next).
	r := &tx.scratch
	*r = tx.resolve(req.PAN, env)
	if r.ok && r.token == nil && tokensOnlyCard(env, &r.card) {
		*r = resolved{} // an internal account record of a tokens-only program (pba.go)
	}
	if r.ok && r.token == nil && cardPresent(req) {
		r.card = tx.plasticOf(r.card)
	}
	auth := Auth{Key: okey, Kind: req.Kind, CreatedAtUnixNano: env.Now.UnixNano(), AmountMinor: req.AmountMinor,
		Merchant: req.MerchantName, MCC: req.MCC}
	if r.ok {
		auth.CardID, auth.BalanceID = r.card.ID, r.card.BalanceID
	}
	if hasPrior {
		return tx.afterFollowUp(req, prior, auth)
	}
	if req.Kind == authz.KindAuthAdvice {
		return tx.advice(req, env, *r, auth), true
	}
	var g gathered
	tx.gather(req, env, r, &g)
	if g.sc.formatError {
		// Recurring terms that cannot hold (MIN > MAX, no interval, an end date past): the
		// message is malformed (30) and changes nothing.
		return authz.Response{Action: authz.FormatError}, false
	}
	if r.ok && !g.balanceFound {
		// A card whose balance the ledger does not hold is a damaged ledger, not a decline:
		// nothing is booked and the acquirer may retry (96).
		return authz.Response{Action: authz.SystemError}, false
	}
	if g.hasPartner {
		// Only a partner balance that exists carries the hold: one opened later must not see
		// a release of money it never held.
		auth.PartnerID = g.partnerID
	}
	d := authz.Decide(g.in)
	return tx.book(req, env, r, &g, d, auth)
}

// afterFollowUp answers an original whose follow-up arrived first (the prior auth record).
func (tx *Tx) afterFollowUp(req *authz.Request, prior Auth, auth Auth) (authz.Response, bool) {
	if prior.State == AuthCaptured {
		// A completion was force-posted before this original arrived: the money has moved
		// already, so the original is approved and places no hold.
		return authz.Response{Action: authz.Approved, AuthCode: authCode(auth.Key)}, false
	}
	// The reversal came first: the original is declined and leaves no hold. An advice (0120)
	// reports a decision the network already took and is always acknowledged 00 (contract §2),
	// but it leaves no hold either.
	auth.State, auth.Action = AuthReversed, authz.DoNotHonour
	tx.PutAuth(auth)
	if req.Kind == authz.KindAuthAdvice {
		return authz.Response{Action: authz.Approved}, true
	}
	return authz.Response{Action: authz.DoNotHonour}, true
}

// gathered is what a decision is taken on: the authz input, the balances it reads and the
// results of the security checks.
type gathered struct {
	in         authz.Input
	bal        Balance
	partner    Balance
	hasPartner bool
	partnerID  string // the program's partner balance, even when it is missing
	checks     Checks
	// balanceFound: the card's balance exists (a card without one is a damaged ledger).
	balanceFound bool
	sc           storedCredential // field 48 subelements 20-22 (agreement.go)
	// fx: the request's amount was converted into the balance's currency (fx.go); in.AmountMinor
	// is the converted amount.
	fx bool
}

// gather builds the decision's input for a request on the resolved card r and runs the
// security checks when the card may be used at all.
func (tx *Tx) gather(req *authz.Request, env *Env, r *resolved, g *gathered) {
	now := env.Now
	in := &g.in
	*in = authz.Input{Kind: req.Kind, CardFound: r.ok, AmountMinor: req.AmountMinor,
		RequestExpiryYYMM: req.ExpiryYYMM, NowYYMM: now.UTC().Format("0601"),
		RequestCurrencyNum: req.CurrencyNum}
	if !r.ok {
		return
	}
	c := &r.card
	in.CardState, in.LockReason, in.CardExpiryYYMM = c.State, c.LockReason, c.ExpiryYYMM
	in.PINTries, in.CardDataFails = c.PINTries, c.CardDataFails
	if r.token != nil {
		in.ViaToken, in.TokenState, in.TokenExpiryYYMM = true, r.token.State, r.token.ExpiryYYMM
	}
	g.bal, g.balanceFound = tx.Balance(c.BalanceID)
	holder, holderFound := tx.Customer(c.CustomerID) // strings alias the row: no allocation
	in.HolderInactive = holderInactive(&holder, holderFound)
	in.BalanceActive = g.bal.State == BalanceActive || g.bal.State == BalanceBlocked
	in.BalanceBlocked = g.bal.State == BalanceBlocked
	if cur, ok := CurrencyByAlpha(g.bal.Currency); ok {
		in.BalanceCurrencyNum = cur.Numeric
	}
	in.AvailableMinor = g.bal.AvailableMinor()
	if req.CurrencyNum != in.BalanceCurrencyNum { // fx.go: decided in the balance's currency
		if amt, ok := env.fxAmount(req, in.BalanceCurrencyNum); ok {
			in.AmountMinor, in.RequestCurrencyNum, g.fx = amt, in.BalanceCurrencyNum, true
		}
	}
	if env.Program != nil {
		if p, ok := env.Program(c.Program); ok && p.PartnerBalanceID != "" {
			g.partner, g.hasPartner = tx.Balance(p.PartnerBalanceID)
			in.HasPartner, in.PartnerAvailableMinor = g.hasPartner, g.partner.AvailableMinor()
			g.partnerID = p.PartnerBalanceID
		}
	}
	if day := now.Unix() / 86400; c.Usage.UnixDay == day {
		in.CountToday, in.AmountTodayMinor = c.Usage.Count, c.Usage.AmountMinor
	}
	in.MaxAmountMinor, in.MaxCountPerDay, in.MaxAmountPerDay = c.Limits.MaxAmountMinor, c.Limits.MaxCountPerDay, c.Limits.MaxAmountPerDay
	if env.Verifier != nil && usable(*in) {
		g.checks = env.Verifier.Verify(req, c, r.token)
		if g.checks.Cryptogram == authz.CheckPassed && (!freshATC(g.checks.ATC, c, r.token) || !tx.pbaATCDelivered(r.token, g.checks.ATC)) {
			g.checks.Cryptogram = authz.CheckFailed
		}
	}
	in.CardData, in.PIN, in.Cryptogram = g.checks.CardData, g.checks.PIN, g.checks.Cryptogram
	tx.gatherStoredCredential(req, env, r, g)
}

// book books a decision: the card effects whatever the outcome, then one kind of approval
// (hold, post, refund or inquiry) or the decline.
func (tx *Tx) book(req *authz.Request, env *Env, r *resolved, g *gathered, d authz.Decision, auth Auth) (authz.Response, bool) {
	resp := authz.Response{Action: d.Action}
	if r.ok {
		tx.applyCardEffects(r, d, g.checks, req, env.Now)
	}
	if g.checks.ARQCSeen && env.Verifier != nil {
		resp.ICCResponse = env.Verifier.ICCResponse(g.checks.ICC, d.Action)
	}
	auth.Action = d.Action
	if req.Kind != authz.KindBalanceInquiry {
		tx.pbaNoteAuthorization(r.token, auth.Key) // the device hears of it (pba.go)
	}
	if g.fx {
		markFX(&auth, req, g.in.AmountMinor)
	}
	if !d.Action.IsApproved() {
		if req.Kind == authz.KindBalanceInquiry {
			return resp, false // an inquiry leaves no record
		}
		auth.State = AuthDeclined
		tx.PutAuth(auth)
		return resp, true
	}
	amountMinor := g.in.AmountMinor // in the balance's currency (converted when g.fx)
	switch req.Kind {
	case authz.KindAuthorization:
		g.hold(&auth, amountMinor, env)
	case authz.KindFinancial:
		g.post(&auth, amountMinor)
	case authz.KindRefund:
		g.post(&auth, -amountMinor)
	case authz.KindBalanceInquiry:
		// Approved like any 0110/0210: with an approval code (contract §2), but no record.
		return authz.Response{Action: authz.Approved, AuthCode: authCode(auth.Key), HasBalance: true,
			AvailableMinor: g.bal.AvailableMinor(), CurrencyNum: g.in.BalanceCurrencyNum,
			ICCResponse: resp.ICCResponse}, false
	}
	if req.Kind == authz.KindAuthorization || req.Kind == authz.KindFinancial {
		tx.countUsage(r.card, amountMinor, env.Now)
		tx.bookStoredCredential(req, env, r, g, auth.Key)
	}
	if earns, refund := loyaltyKind(req.Kind); earns {
		tx.loyaltyCaptured(env, r.card.ID, auth.Key, amountMinor, refund, req.MerchantID, req.MCC)
	}
	tx.PutBalance(g.bal)
	if g.hasPartner {
		tx.PutBalance(g.partner)
	}
	tx.PutAuth(auth)
	resp.AuthCode = authCode(auth.Key)
	resp.HasBalance, resp.AvailableMinor, resp.CurrencyNum = true, g.bal.AvailableMinor(), g.in.BalanceCurrencyNum
	return resp, true
}

// hold places an approved authorization's hold on the balance (and partner balance).
func (g *gathered) hold(auth *Auth, amountMinor int64, env *Env) {
	g.bal.HeldMinor += amountMinor
	if g.hasPartner {
		g.partner.HeldMinor += amountMinor
	}
	auth.State, auth.HeldMinor = AuthOpen, amountMinor
	auth.ExpiresAtUnixNano = env.Now.Add(env.holdTTL()).UnixNano()
}

// post moves money at once: a financial message debits (debitMinor > 0), a refund credits.
func (g *gathered) post(auth *Auth, debitMinor int64) {
	g.bal.CurrentMinor -= debitMinor
	if g.hasPartner {
		g.partner.CurrentMinor -= debitMinor
	}
	auth.State, auth.PostedMinor = AuthPosted, debitMinor
}

// countUsage adds an approval to the card's daily usage. Usage counters exist for the daily
// limits only: a card without limits keeps none, so an approval on it writes no card row (one
// row fewer per message in the journal).
func (tx *Tx) countUsage(card Card, amountMinor int64, now time.Time) {
	if !card.Limits.any() {
		return
	}
	cur, _ := tx.Card(card.ID)
	day := now.Unix() / 86400
	if cur.Usage.UnixDay != day {
		cur.Usage = Usage{UnixDay: day}
	}
	cur.Usage.Count++
	cur.Usage.AmountMinor += amountMinor
	tx.PutCard(cur)
}

// usable reports whether the card may be used at all, so the security checks are worth running
// (a lost card is declined as lost whatever its PIN).
func usable(in authz.Input) bool {
	return in.CardState == authz.CardStateActive && (!in.ViaToken || in.TokenState == authz.TokenActive)
}

// freshATC reports whether an ARQC's ATC is above the highest seen for the card (or token).
// Any ATC at or below the highest is a replay or too old (docs/security.md: no window).
func freshATC(atc int, c *Card, t *Token) bool {
	if t != nil {
		return atc > t.HighestATC
	}
	return atc > c.HighestATC
}

// applyCardEffects books what a decision does to the card: the PIN try counter, a PIN lock and
// the highest ATC. These happen whether or not the request is approved. A virtual or
// digital-first card shares them with its other form factor (twin.go); only such a card, and
// only when something changed, looks for one.
func (tx *Tx) applyCardEffects(r *resolved, d authz.Decision, checks Checks, req *authz.Request, now time.Time) {
	c := r.card // read through the overlay for this message; nothing has changed it since
	changed := false
	if c.PINTries != d.PINTries {
		c.PINTries, changed = d.PINTries, true
	}
	if c.CardDataFails != d.CardDataFails {
		c.CardDataFails, changed = d.CardDataFails, true
	}
	if d.LockCard != authz.NotLocked {
		tx.EmitCardState(c, Card{ID: c.ID, BalanceID: c.BalanceID, State: CardLocked, LockReason: d.LockCard}, "authorization", "switch")
		c.lock(d.LockCard) // remembers the state before the lock, for the unlock
		changed = true
	}
	if checks.Cryptogram == authz.CheckPassed {
		if r.token != nil {
			if t, ok := tx.Token(r.token.ID); ok && checks.ATC > t.HighestATC {
				t.HighestATC = checks.ATC
				tx.PutToken(t)
			}
		} else if checks.ATC > c.HighestATC {
			c.HighestATC, changed = checks.ATC, true
		}
	}
	if changed {
		tx.PutCard(c)
		r.card = c
		if hasTwins(&c) { // the counters, the lock and the ATC are the one card's (twin.go)
			tx.shareCardEffects(&c, d.LockCard)
		}
	}
}

// advice books a network stand-in authorization: a hold even past the available balance, always
// answered 00. An advice for an unknown card has nothing to book and is acknowledged.
func (tx *Tx) advice(req *authz.Request, env *Env, r resolved, auth Auth) authz.Response {
	auth.Action = authz.Approved
	if !r.ok {
		auth.State = AuthDeclined
		tx.PutAuth(auth)
		return authz.Response{Action: authz.Approved}
	}
	bal, ok := tx.Balance(r.card.BalanceID)
	if !ok {
		// A damaged ledger: not acknowledged, so the network repeats the advice (96).
		return authz.Response{Action: authz.SystemError}
	}
	amountMinor := req.AmountMinor
	if cur, ok := CurrencyByAlpha(bal.Currency); ok {
		if amt, fx := env.fxAmount(req, cur.Numeric); fx { // fx.go: held in the balance's currency
			amountMinor = amt
			markFX(&auth, req, amt)
		}
	}
	bal.HeldMinor += amountMinor
	tx.PutBalance(bal)
	if p, ok := tx.partnerOf(r.card.Program, env); ok {
		p.HeldMinor += amountMinor
		tx.PutBalance(p)
		auth.PartnerID = p.ID
	}
	auth.State, auth.HeldMinor = AuthOpen, amountMinor
	auth.ExpiresAtUnixNano = env.Now.Add(env.holdTTL()).UnixNano()
	tx.PutAuth(auth)
	return authz.Response{Action: authz.Approved}
}

func (tx *Tx) partnerOf(program string, env *Env) (Balance, bool) {
	if env.Program == nil {
		return Balance{}, false
	}
	p, ok := env.Program(program)
	if !ok || p.PartnerBalanceID == "" {
		return Balance{}, false
	}
	return tx.Balance(p.PartnerBalanceID)
}

func (env *Env) holdTTL() time.Duration {
	if env.HoldTTL > 0 {
		return env.HoldTTL
	}
	return DefaultHoldTTL
}

// authCode derives the 6-character approval code (field 38) from the original key, so a replayed
// batch and a retransmission produce the same code.
func authCode(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	v := h.Sum32()
	const digits = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	var b [6]byte
	for i := range b {
		b[i] = digits[v%uint32(len(digits))]
		v /= uint32(len(digits))
	}
	return string(b[:])
}
