package panel

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/mgmt"
)

// The panel reads and changes nothing itself: every page is rendered from /admin API answers and
// every action is an /admin request, made in process through the API's own handler with the
// operator's session token as the bearer. So the API's role checks, validation, audit entries
// (with the reason the panel asks for, in the Audit-Reason header) and rate limits apply to the
// panel exactly as to any other operator client, and a role the panel shows as disabled is
// refused by the API even if the form is sent by hand.

// apiError is the /admin API's error answer (contract §4).
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// client makes /admin requests for one panel request.
type client struct {
	api    fasthttp.RequestHandler
	token  string   // the operator's session token
	remote net.Addr // the browser's address: the API's per-address limits see the real client
	reason string   // sent as Audit-Reason on changes
}

// call sends method path (query included) with body v (nil: none) and decodes a 2xx answer
// into out (nil: ignore). A non-2xx answer is returned as *apiError.
func (c *client) call(method, path string, v any, out any) error {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("panel.internal")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.reason != "" {
		req.Header.Set(mgmt.AuditReasonHeader, c.reason)
	}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("panel: encode %s %s: %w", method, path, err)
		}
		req.SetBody(b)
		req.Header.SetContentType("application/json")
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, c.remote, nil)
	c.api(&ctx)
	status := ctx.Response.StatusCode()
	body := ctx.Response.Body()
	if status < 200 || status > 299 {
		e := &apiError{Status: status}
		if json.Unmarshal(body, e) != nil || e.Code == "" {
			e.Code, e.Message = "UNEXPECTED_ANSWER", fmt.Sprintf("the API answered %d", status)
		}
		return e
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("panel: decode %s %s: %w", method, path, err)
	}
	return nil
}

func (c *client) get(path string, q url.Values, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.call("GET", path, nil, out)
}

// Views of the /admin answers, with the fields the pages show (the API's JSON names).

type customerView struct {
	CustomerID string `json:"customerId"`
	ExternalID string `json:"externalId"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
	KYCStatus  string `json:"kycStatus"`
	CreatedAt  string `json:"createdAt"`
	State      string `json:"state"`
}

type balanceView struct {
	BalanceID           string   `json:"balanceId"`
	CustomerID          string   `json:"customerId"`
	Currency            string   `json:"currency"`
	Available           string   `json:"available"`
	Held                string   `json:"held"`
	Current             string   `json:"current"`
	State               string   `json:"state"`
	CardIDs             []string `json:"cardIds"`
	LowBalanceThreshold string   `json:"lowBalanceThreshold"`
}

type cardView struct {
	CardID      string `json:"cardId"`
	BalanceID   string `json:"balanceId"`
	Program     string `json:"program"`
	Type        string `json:"type"`
	State       string `json:"state"`
	LockReason  int    `json:"lockReason"`
	Last4       string `json:"last4"`
	ExpiryMonth int    `json:"expiryMonth"`
	ExpiryYear  int    `json:"expiryYear"`
	// Filled by the panel: the card's tokens and its owner.
	Tokens     []tokenView `json:"-"`
	CustomerID string      `json:"-"`
}

type tokenView struct {
	TokenID        string `json:"tokenId"`
	CardID         string `json:"cardId"`
	Type           string `json:"type"`
	State          string `json:"state"`
	Last4          string `json:"last4"`
	WalletProvider string `json:"walletProvider"`
	CreatedAt      string `json:"createdAt"`
}

type agreementView struct {
	AgreementID string `json:"agreementId"`
	Reference   string `json:"reference"`
	MerchantID  string `json:"merchantId"`
	CardID      string `json:"cardId"`
	Last4       string `json:"last4"`
	State       string `json:"state"`
	CreatedAt   string `json:"createdAt"`
	LastUsedAt  string `json:"lastUsedAt"`
}

type historyItem struct {
	TransactionID string  `json:"transactionId"`
	CardID        string  `json:"cardId"`
	BalanceID     string  `json:"balanceId"`
	MaskedPAN     string  `json:"maskedPan"`
	MTI           string  `json:"mti"`
	Type          string  `json:"type"`
	State         string  `json:"state"`
	ActionCode    string  `json:"actionCode"`
	Amount        string  `json:"amount"`
	Currency      string  `json:"currency"`
	Merchant      *string `json:"merchant"`
	CreatedAt     string  `json:"createdAt"`
}

type partnerView struct {
	BalanceID           string `json:"balanceId"`
	Kind                string `json:"kind"`
	Program             string `json:"program"`
	Currency            string `json:"currency"`
	Available           string `json:"available"`
	Held                string `json:"held"`
	Current             string `json:"current"`
	CreditLimit         string `json:"creditLimit"`
	State               string `json:"state"`
	LowBalanceThreshold string `json:"lowBalanceThreshold"`
	// Low is set by the panel: available under the threshold.
	Low bool `json:"-"`
}

type sums struct {
	Count     int    `json:"count"`
	Current   string `json:"current"`
	Held      string `json:"held"`
	Available string `json:"available"`
}

type summaryRow struct {
	Currency string `json:"currency"`
	Users    sums   `json:"users"`
	Partners sums   `json:"partners"`
	Total    sums   `json:"total"`
}

type auditEntry struct {
	Seq           uint64          `json:"seq"`
	At            string          `json:"at"`
	Actor         string          `json:"actor"`
	Channel       string          `json:"channel"`
	Role          string          `json:"role"`
	Action        string          `json:"action"`
	ResourceType  string          `json:"resourceType"`
	ResourceID    string          `json:"resourceId"`
	Before        json.RawMessage `json:"before"`
	After         json.RawMessage `json:"after"`
	CorrelationID string          `json:"correlationId"`
	Reason        string          `json:"reason"`
}

type webhookDelivery struct {
	Event struct {
		ID        string          `json:"id"`
		Seq       uint64          `json:"seq"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	} `json:"event"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	NextAt    string `json:"nextAt"`
	LastError string `json:"lastError"`
	UpdatedAt string `json:"updatedAt"`
}
