package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cardswitch/cardswitch/ledger"
)

// eventID is the public id of an event: its sequence, and the low bits of its time so that a
// store started anew (sequence from 1 again) does not give a receiver ids it has seen.
func eventID(e *ledger.Event) string {
	return fmt.Sprintf("evt_%016x%08x", e.Seq, uint32(e.AtUnixNano^(e.AtUnixNano>>32)))
}

// envelope turns a recorded event into what is delivered: the data fields of docs/api.md,
// "Events", exactly as the management API names and formats them.
func envelope(e *ledger.Event) Event {
	if e.Type == ledger.EventImported {
		return imported(e)
	}
	var data map[string]any
	switch e.Type {
	case ledger.EventAuthorizationDecided:
		data = map[string]any{"cardId": e.CardID, "balanceId": e.BalanceID, "mti": e.MTI, "type": e.Kind.String(),
			"amount": formatAmount(e.AmountMinor, e.Currency), "currency": e.Currency,
			"actionCode": e.Action.String(), "approved": e.Action.IsApproved(), "at": time.Unix(0, e.AtUnixNano).UTC()}
	case ledger.EventCardStateChanged:
		data = map[string]any{"cardId": e.CardID, "balanceId": e.BalanceID, "previousState": e.PreviousState,
			"state": e.State, "previousLockReason": int(e.PreviousLockReason), "lockReason": int(e.LockReason),
			"source": e.Source, "actor": e.Actor}
	case ledger.EventAgreementCreated, ledger.EventAgreementCancelled:
		data = map[string]any{"reference": e.AgreementRef, "cardId": e.CardID, "customerId": e.CustomerID,
			"merchantId": e.MerchantID, "source": e.Source}
		if e.TokenID != "" {
			data["tokenId"] = e.TokenID
		}
	case ledger.EventTSHOTP:
		// The data was built by package tsh as delivered (it holds the OTP: see Redacted).
		return Event{ID: eventID(e), Seq: e.Seq, Type: e.Type.String(), CreatedAt: time.Unix(0, e.AtUnixNano).UTC(),
			Data: append(json.RawMessage(nil), e.Payload...)}
	case ledger.EventBalanceStateChanged:
		data = map[string]any{"balanceId": e.BalanceID, "customerId": e.CustomerID, "currency": e.Currency,
			"previousState": e.PreviousStatus, "state": e.Status, "source": e.Source, "actor": e.Actor}
	case ledger.EventCustomerUpdated, ledger.EventCustomerDeactivated, ledger.EventCustomerReactivated,
		ledger.EventCustomerDeleted:
		data = map[string]any{"customerId": e.CustomerID, "previousState": e.PreviousStatus, "state": e.Status,
			"source": e.Source, "actor": e.Actor}
	case ledger.EventCustomerKYCChanged:
		data = map[string]any{"customerId": e.CustomerID, "previousKycStatus": e.PreviousStatus,
			"kycStatus": e.Status, "source": e.Source, "actor": e.Actor}
	case ledger.EventBalanceLow:
		data = map[string]any{"balanceId": e.BalanceID, "kind": e.BalanceKind, "customerId": e.CustomerID,
			"program": e.Program, "currency": e.Currency, "available": formatAmount(e.AvailableMinor, e.Currency),
			"threshold": formatAmount(e.ThresholdMinor, e.Currency)}
	default:
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil { // strings, numbers and a time: cannot fail
		panic("notify: event data: " + err.Error())
	}
	return Event{ID: eventID(e), Seq: e.Seq, Type: e.Type.String(), CreatedAt: time.Unix(0, e.AtUnixNano).UTC(), Data: raw}
}

// formatAmount writes minor units as the API's decimal string with the currency's decimals.
func formatAmount(minor int64, currency string) string {
	exp := 2
	if cur, ok := ledger.CurrencyByAlpha(currency); ok {
		exp = cur.Exponent
	}
	return decimal.New(minor, int32(-exp)).StringFixed(int32(exp))
}

// redactedOTP replaces the one-time password of a tsh.otp event in what is listed and kept after
// delivery.
const redactedOTP = "[redacted]"

// Redacted is ev without its secrets: the otpValue of a tsh.otp event is replaced. Listings
// show only this form, and a delivered event keeps only this form (a replay of a delivered
// tsh.otp sends no OTP: a one-time password is not sent twice).
func Redacted(ev Event) Event {
	if ev.Type != ledger.EventTSHOTP.String() {
		return ev
	}
	var data map[string]any
	if json.Unmarshal(ev.Data, &data) != nil {
		ev.Data = json.RawMessage(`{}`)
		return ev
	}
	if _, ok := data["otpValue"]; ok {
		data["otpValue"] = redactedOTP
	}
	ev.Data, _ = json.Marshal(data)
	return ev
}
