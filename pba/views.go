package pba

import (
	"context"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// tokenView is a payment token as the API shows it: never the token PAN (only its last four),
// never the CVC2.
type tokenView struct {
	PaymentTokenID string `json:"paymentTokenId"`
	Type           string `json:"type"`   // STATIC or DEVICE
	Status         string `json:"status"` // INACTIVE, ACTIVE, SUSPENDED, DELETED
	UserID         string `json:"userId"`
	IBANID         string `json:"ibanId"`
	InstallationID string `json:"installationId,omitempty"`
	TokenPANSuffix string `json:"tokenPanSuffix"`
	ExpDate        string `json:"expDate"` // MMYY
	TUR            string `json:"tokenUniqueReference"`
	// Static tokens: whether getStaticTokenPaymentData can answer.
	PaymentDataAvailable *bool `json:"paymentDataAvailable,omitempty"`
	// Device tokens: transaction credentials delivered and not used yet.
	TransactionCredentialsCount *int `json:"transactionCredentialsCount,omitempty"`
}

func (s *Service) tokenView(st *ledger.State, pt PaymentToken) tokenView {
	v := tokenView{PaymentTokenID: pt.ID, Type: pt.Kind, Status: string(tokenState(stateView{st}, pt.ID)), UserID: pt.Sub,
		IBANID: pt.IBANID, InstallationID: pt.InstallationID, TokenPANSuffix: pt.Last4, TUR: pt.TUR}
	if len(pt.ExpiryYYMM) == 4 {
		v.ExpDate = pt.ExpiryYYMM[2:] + pt.ExpiryYYMM[:2]
	}
	if pt.Kind == KindStatic {
		ok := pt.CVC2Confirmed
		v.PaymentDataAvailable = &ok
	} else {
		n := credentialsLeft(stateView{st}, pt.ID)
		v.TransactionCredentialsCount = &n
	}
	return v
}

// tokenAudit is a token's audit view.
func tokenAudit(pt PaymentToken, state authz.TokenState) map[string]string {
	return map[string]string{"type": pt.Kind, "status": string(state), "userId": pt.Sub, "ibanId": pt.IBANID,
		"installationId": pt.InstallationID, "tokenPanSuffix": pt.Last4, "deletedBy": pt.DeletedBy}
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}
