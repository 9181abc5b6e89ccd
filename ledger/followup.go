package ledger

import (
	"errors"
	"fmt"

	"github.com/cardswitch/cardswitch/authz"
)

// ErrMissingBalance is the operating error of a batch that would move money on a balance the
// ledger does not hold (a damaged ledger): the batch is refused, nothing is booked.
var ErrMissingBalance = errors.New("ledger: balance missing")

// originalKeyOf is the key of the original a completion or reversal names in field 90.
func originalKeyOf(req *authz.Request) (string, bool) {
	o := req.Original
	if o == nil {
		return "", false
	}
	return OriginalKey(baseMTI(o.MTI), o.STAN, o.F7, o.AcquirerID), true
}

// baseMTI folds a repeat MTI (xxx1) onto its base (xxx0).
func baseMTI(mti string) string {
	if len(mti) == 4 && mti[3] == '1' {
		return mti[:3] + "0"
	}
	return mti
}

// moveMoney books a signed amount on an auth's balance and partner balance: debit > 0 lowers
// current, release > 0 lowers held. When the auth's own balance is missing, nothing is booked
// and the batch fails with ErrMissingBalance (Tx.Err), so the books never drift apart from
// the auth records. A partner balance the record names but the ledger does not hold is left
// out: a program may name its partner balance before the balance is opened, and the auth was
// then booked on the user balance alone.
func (tx *Tx) moveMoney(a *Auth, debitMinor, releaseMinor int64) error {
	b, ok := tx.Balance(a.BalanceID)
	if !ok {
		err := fmt.Errorf("%w: balance %q of an auth record", ErrMissingBalance, a.BalanceID)
		tx.fail(err)
		return err
	}
	b.CurrentMinor -= debitMinor
	b.HeldMinor -= releaseMinor
	tx.PutBalance(b)
	if a.PartnerID != "" {
		if p, ok := tx.Balance(a.PartnerID); ok {
			p.CurrentMinor -= debitMinor
			p.HeldMinor -= releaseMinor
			tx.PutBalance(p)
		}
	}
	a.PostedMinor += debitMinor
	a.HeldMinor -= releaseMinor
	return nil
}

// completion captures an earlier authorization for the amount in field 4 and releases the rest of
// its hold. A completion is an advice: the network has settled it, so it is booked even past the
// available balance, and even when its original is unknown (force post on the card of field 2;
// the original, if it arrives later, is approved without a hold).
func (tx *Tx) completion(req *authz.Request, env *Env) authz.Response {
	okey, ok := originalKeyOf(req)
	if !ok {
		return authz.Response{Action: authz.FormatError}
	}
	a, found := tx.Auth(okey)
	if found && a.State == AuthCaptured {
		return authz.Response{Action: authz.Approved} // a second completion changes nothing
	}
	if found && a.State == AuthOpen && a.Kind != authz.KindFinancial {
		debit, companyID, companyMinor := req.AmountMinor, "", int64(0)
		if a.FX != nil && req.CurrencyNum == a.FX.TxnCurrencyNum { // fx.go: the cardholder pays at the approved rate
			debit, companyID, companyMinor = tx.fxSettle(&a, req.AmountMinor, env)
		}
		if tx.moveMoney(&a, debit, a.HeldMinor) != nil {
			return authz.Response{Action: authz.SystemError}
		}
		if companyID != "" {
			tx.moveCompany(&a, companyID, companyMinor)
		}
		a.State = AuthCaptured
		tx.PutAuth(a)
		tx.loyaltyCaptured(env, a.CardID, okey, debit, false, req.MerchantID, req.MCC)
		return authz.Response{Action: authz.Approved}
	}
	if !found || a.BalanceID == "" {
		r := tx.resolve(req.PAN, env)
		if !r.ok {
			return authz.Response{Action: authz.OriginalNotFound}
		}
		if !found {
			a = Auth{Key: okey, Kind: authz.KindAuthorization, CreatedAtUnixNano: env.Now.UnixNano()}
		}
		a.CardID, a.BalanceID = r.card.ID, r.card.BalanceID
		if p, ok := tx.partnerOf(r.card.Program, env); ok {
			a.PartnerID = p.ID
		}
	}
	if a.State == AuthPosted {
		return authz.Response{Action: authz.Approved} // a financial message needs no completion
	}
	// Unknown, declined, expired or reversed original: the settled amount is booked as is
	// (converted into the balance's currency at the rate in force when it is in another one).
	debit := req.AmountMinor
	if b, ok := tx.Balance(a.BalanceID); ok {
		if cur, ok := CurrencyByAlpha(b.Currency); ok {
			debit, _ = env.fxAmount(req, cur.Numeric)
		}
	}
	if tx.moveMoney(&a, debit, 0) != nil {
		return authz.Response{Action: authz.SystemError}
	}
	a.State = AuthCaptured
	tx.PutAuth(a)
	tx.loyaltyCaptured(env, a.CardID, okey, debit, false, req.MerchantID, req.MCC)
	return authz.Response{Action: authz.Approved}
}

// reversal undoes an original in full, or down to the replacement amount of field 95. An unknown
// original is remembered so that it is declined when it arrives (answer 25 to 0400, 00 to 0420).
// A second reversal changes nothing and is answered 00.
func (tx *Tx) reversal(req *authz.Request, env *Env) authz.Response {
	okey, ok := originalKeyOf(req)
	if !ok {
		return authz.Response{Action: authz.FormatError}
	}
	a, found := tx.Auth(okey)
	if !found {
		tx.PutAuth(Auth{Key: okey, State: AuthReversedFirst, Kind: authz.KindReversal,
			CreatedAtUnixNano: env.Now.UnixNano()})
		if req.Kind == authz.KindReversalAdvice {
			return authz.Response{Action: authz.Approved}
		}
		return authz.Response{Action: authz.OriginalNotFound}
	}
	partial := req.HasReplacement
	newAmount := req.ReplacementAmountMinor
	// fx.go: a replacement amount in the authorization's own currency is converted at the rate
	// it was approved at; newTxn keeps it for the record.
	fxReplace := a.FX != nil && partial && newAmount > 0 && req.CurrencyNum == a.FX.TxnCurrencyNum
	newTxn := newAmount
	if fxReplace && newAmount >= a.FX.TxnAmountMinor {
		newAmount = a.AmountMinor + 1 // at or above the original: nothing to undo (below)
		if a.State == AuthPosted || a.State == AuthCaptured {
			newAmount = abs(a.PostedMinor) + 1
		}
	} else if fxReplace {
		newAmount = atAuthRate(&a, newAmount)
		if newAmount == 0 {
			newAmount = 1 // a replacement above zero keeps at least a minor unit
		}
	}
	switch a.State {
	case AuthOpen:
		if partial && newAmount > 0 {
			if newAmount < a.HeldMinor {
				if tx.moveMoney(&a, 0, a.HeldMinor-newAmount) != nil {
					return authz.Response{Action: authz.SystemError}
				}
				if fxReplace {
					a.setTxnAmount(newTxn)
				}
				a.AmountMinor = newAmount
				tx.PutAuth(a)
			}
			return authz.Response{Action: authz.Approved}
		}
		if tx.moveMoney(&a, 0, a.HeldMinor) != nil {
			return authz.Response{Action: authz.SystemError}
		}
		a.State = AuthReversed
		tx.PutAuth(a)
	case AuthPosted, AuthCaptured:
		// Money has moved: a reversal gives it back (or takes back a refund).
		target := int64(0)
		if partial && newAmount > 0 {
			target = newAmount
			if a.PostedMinor < 0 {
				target = -newAmount
			}
		}
		if a.PostedMinor > 0 && target > a.PostedMinor || a.PostedMinor < 0 && target < a.PostedMinor {
			return authz.Response{Action: authz.Approved} // replacement above the original: nothing to undo
		}
		if tx.moveMoney(&a, target-a.PostedMinor, 0) != nil {
			return authz.Response{Action: authz.SystemError}
		}
		if a.FX != nil && a.FX.CompanyID != "" { // fx.go: the company's share follows the amount left
			companyTarget := int64(0)
			if target != 0 && fxReplace {
				_, _, companyTarget = tx.fxSettle(&a, newTxn, env)
			} else if target != 0 {
				companyTarget = a.FX.CompanyPostedMinor
			}
			tx.moveCompany(&a, a.FX.CompanyID, companyTarget-a.FX.CompanyPostedMinor)
		}
		if fxReplace && target != 0 {
			a.setTxnAmount(newTxn)
		}
		if target == 0 {
			a.State = AuthReversed
		} else {
			a.AmountMinor = abs(target)
		}
		tx.PutAuth(a)
		tx.loyaltyReversed(a.CardID, okey, abs(target))
	case AuthExpired:
		a.State = AuthReversed
		tx.PutAuth(a)
	}
	if a.State == AuthReversed {
		tx.reversedPayment(a.CardID, okey)
	}
	// AuthReversed, AuthReversedFirst, AuthDeclined: a repeated reversal changes nothing.
	return authz.Response{Action: authz.Approved}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// ExpireHolds releases the holds whose expiry has passed, at most max in one batch, and reports
// how many it released.
func (tx *Tx) ExpireHolds(env *Env, max int) int {
	keys := tx.DueExpiries(env.Now.UnixNano(), max)
	released := 0
	for _, k := range keys {
		a, ok := tx.Auth(k)
		if !ok || a.State != AuthOpen {
			continue // captured or reversed earlier in this batch
		}
		if tx.moveMoney(&a, 0, a.HeldMinor) != nil {
			return released // the batch is refused (Tx.Err); the engine logs it
		}
		a.State = AuthExpired
		tx.PutAuth(a)
		released++
	}
	return released
}

// AccountOf names the card and balance a processed money message was booked on, from the auth
// record it created or named ("" when none, e.g. an unknown card).
func (tx *Tx) AccountOf(req *authz.Request) (cardID, balanceID string) {
	key, ok := originalKeyOf(req)
	if !ok {
		key = OriginalKey(req.BaseMTI, req.STAN, req.F7, req.AcquirerID)
	}
	if a, found := tx.Auth(key); found {
		return a.CardID, a.BalanceID
	}
	return "", ""
}
