package acquirer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Mgmt is a client of the management API (contract §4) on the /secure server-to-server channel,
// with the encrypted requests and responses of the contract (RSA-OAEP-256 + A256GCM).
type Mgmt struct {
	BaseURL string // http://host:port
	HTTP    *http.Client

	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyErr  error
	keyHdr  string
}

// NewMgmt returns a client of the API at addr (HOST:PORT or a URL).
func NewMgmt(addr string) *Mgmt {
	base := addr
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return &Mgmt{BaseURL: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("mgmt: %s %s: %d %s %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// WaitHealthy polls GET /healthz until it answers 200 or ctx ends.
func (m *Mgmt) WaitHealthy(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.BaseURL+"/healthz", nil)
		resp, err := m.HTTP.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mgmt: %s/healthz not healthy: %w", m.BaseURL, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *Mgmt) clientKey() (*rsa.PrivateKey, string, error) {
	m.keyOnce.Do(func() {
		m.key, m.keyErr = rsa.GenerateKey(rand.Reader, 2048)
		if m.keyErr != nil {
			return
		}
		der, err := x509.MarshalPKIXPublicKey(&m.key.PublicKey)
		if err != nil {
			m.keyErr = err
			return
		}
		m.keyHdr = base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})
	return m.key, m.keyHdr, m.keyErr
}

// call sends a JSON request and decodes a JSON answer into out (when not nil).
func (m *Mgmt) call(method, path string, hdr map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, m.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("mgmt: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("mgmt: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct{ Code, Message string }
		if json.Unmarshal(raw, &eb) == nil {
			e.Code, e.Message = eb.Code, eb.Message
		}
		return e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("mgmt: %s %s: answer: %w", method, path, err)
		}
	}
	return nil
}

// Balance is the balance resource.
type Balance struct {
	BalanceID  string   `json:"balanceId"`
	CustomerID string   `json:"customerId"`
	Currency   string   `json:"currency"`
	Available  string   `json:"available"`
	Held       string   `json:"held"`
	Current    string   `json:"current"`
	State      string   `json:"state"`
	CardIDs    []string `json:"cardIds"`
}

// CardResource is the card resource.
type CardResource struct {
	CardID            string `json:"cardId"`
	BalanceID         string `json:"balanceId"`
	Program           string `json:"program"`
	Type              string `json:"type"`
	State             string `json:"state"`
	LockReason        int    `json:"lockReason"`
	Last4             string `json:"last4"`
	ExpiryMonth       int    `json:"expiryMonth"`
	ExpiryYear        int    `json:"expiryYear"`
	PANSequenceNumber string `json:"panSequenceNumber"`
}

// CreateCustomer registers a customer and returns its id.
func (m *Mgmt) CreateCustomer(c CustomerSpec) (string, error) {
	var out struct {
		CustomerID string `json:"customerId"`
	}
	err := m.call(http.MethodPost, "/secure/customers", nil, map[string]string{"externalId": c.ExternalID,
		"firstName": c.FirstName, "lastName": c.LastName, "email": c.Email, "phone": c.Phone}, &out)
	return out.CustomerID, err
}

// SetKYC records the customer's KYC outcome (VERIFIED or REJECTED).
func (m *Mgmt) SetKYC(customerID, status string) error {
	return m.call(http.MethodPost, "/secure/customers/"+customerID+"/kyc", nil, map[string]string{"status": status}, nil)
}

// CreateBalance opens a balance.
func (m *Mgmt) CreateBalance(customerID, currency string) (*Balance, error) {
	var b Balance
	err := m.call(http.MethodPost, "/secure/customers/"+customerID+"/balances", nil, map[string]string{"currency": currency}, &b)
	return &b, err
}

// GetBalance reads a balance.
func (m *Mgmt) GetBalance(customerID, balanceID string) (*Balance, error) {
	var b Balance
	err := m.call(http.MethodGet, "/secure/customers/"+customerID+"/balances/"+balanceID, nil, nil, &b)
	return &b, err
}

// Reload adds amount (major units) to a balance, idempotently under key.
func (m *Mgmt) Reload(customerID, balanceID, amount, key string) (*Balance, error) {
	var b Balance
	hdr := map[string]string{}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	err := m.call(http.MethodPost, "/secure/customers/"+customerID+"/balances/"+balanceID+"/reload", hdr,
		map[string]string{"amount": amount}, &b)
	return &b, err
}

// IssueCard issues a card on a balance.
func (m *Mgmt) IssueCard(customerID, balanceID, typ, program string) (*CardResource, error) {
	in := map[string]string{"type": typ}
	if program != "" {
		in["program"] = program
	}
	var c CardResource
	path := "/secure/customers/" + customerID + "/balances/" + balanceID + "/cards"
	if typ != "" && typ != "VIRTUAL" {
		// Ordering a plastic needs an encrypted request.
		err := m.callEncrypted(http.MethodPost, path, in, &c)
		return &c, err
	}
	err := m.call(http.MethodPost, path, nil, in, &c)
	return &c, err
}

// GetCard reads a card.
func (m *Mgmt) GetCard(cardID string) (*CardResource, error) {
	var c CardResource
	err := m.call(http.MethodGet, "/secure/cards/"+cardID, nil, nil, &c)
	return &c, err
}

// LockCard locks a card with a reason code 1..8.
func (m *Mgmt) LockCard(cardID string, reason int) error {
	return m.call(http.MethodPost, "/secure/cards/"+cardID+"/lock", nil, map[string]int{"reasonCode": reason}, nil)
}

// UnlockCard unlocks a card.
func (m *Mgmt) UnlockCard(cardID string) error {
	return m.call(http.MethodPost, "/secure/cards/"+cardID+"/unlock", nil, struct{}{}, nil)
}

// CancelAgreement cancels the card's stored-credential agreement with this reference, as the
// partner (POST /secure/cards/{id}/agreements/{agreementId}/cancel).
func (m *Mgmt) CancelAgreement(cardID, reference string) error {
	var list struct {
		Agreements []struct {
			AgreementID string `json:"agreementId"`
			Reference   string `json:"reference"`
		} `json:"agreements"`
	}
	if err := m.call(http.MethodGet, "/secure/cards/"+cardID+"/agreements", nil, nil, &list); err != nil {
		return err
	}
	for _, a := range list.Agreements {
		if a.Reference == reference {
			return m.call(http.MethodPost, "/secure/cards/"+cardID+"/agreements/"+a.AgreementID+"/cancel", nil, struct{}{}, nil)
		}
	}
	return fmt.Errorf("card %s has no agreement %q", cardID, reference)
}

// FullCard is the decrypted answer of GET /secure/cards/{id}/full.
type FullCard struct {
	PAN         string      `json:"pan"`
	ExpiryMonth json.Number `json:"expiryMonth"`
	ExpiryYear  json.Number `json:"expiryYear"`
	CVC2        string      `json:"cvc2"`
}

// ExpiryYYMM is the expiry as field 14 carries it.
func (f *FullCard) ExpiryYYMM() (string, error) {
	mo, err1 := f.ExpiryMonth.Int64()
	yr, err2 := f.ExpiryYear.Int64()
	if err1 != nil || err2 != nil || mo < 1 || mo > 12 {
		return "", errors.New("mgmt: card expiry unreadable")
	}
	return fmt.Sprintf("%02d%02d", yr%100, mo), nil
}

// encHeaders are the headers of an encrypted request.
func (m *Mgmt) encHeaders() (map[string]string, *rsa.PrivateKey, error) {
	key, hdr, err := m.clientKey()
	if err != nil {
		return nil, nil, err
	}
	return map[string]string{"Encrypted-Request": "true", "Public-Key": hdr}, key, nil
}

// open decrypts an encrypted answer {"payload": JWE} into out.
func openEnvelope(key *rsa.PrivateKey, env struct{ Payload string }, out any) error {
	obj, err := jose.ParseEncryptedCompact(env.Payload, []jose.KeyAlgorithm{jose.RSA_OAEP_256},
		[]jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return fmt.Errorf("mgmt: encrypted answer: %w", err)
	}
	plain, err := obj.Decrypt(key)
	if err != nil {
		return fmt.Errorf("mgmt: encrypted answer: %w", err)
	}
	return json.Unmarshal(plain, out)
}

// FullCard fetches the card's PAN, expiry and CVC2 over the encrypted endpoint.
func (m *Mgmt) FullCard(cardID string) (*FullCard, error) {
	hdr, key, err := m.encHeaders()
	if err != nil {
		return nil, err
	}
	var env struct{ Payload string }
	if err := m.call(http.MethodGet, "/secure/cards/"+cardID+"/full", hdr, nil, &env); err != nil {
		return nil, err
	}
	var f FullCard
	if err := openEnvelope(key, env, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// serverKey fetches the server's RSA public key for encrypted requests.
func (m *Mgmt) serverKey() (*rsa.PublicKey, string, error) {
	var out struct{ Kid, Pem string }
	if err := m.call(http.MethodGet, "/public-key", nil, nil, &out); err != nil {
		return nil, "", err
	}
	blk, _ := pem.Decode([]byte(out.Pem))
	if blk == nil {
		return nil, "", errors.New("mgmt: /public-key: no PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("mgmt: /public-key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, "", errors.New("mgmt: /public-key: not an RSA key")
	}
	return rsaPub, out.Kid, nil
}

// SetPIN sets a card's PIN through the customer channel: a session for the customer, then the
// encrypted PIN request.
func (m *Mgmt) SetPIN(customerID, cardID, pin string) error {
	var sess struct {
		SessionToken string `json:"sessionToken"`
	}
	if err := m.call(http.MethodPost, "/secure/customers/"+customerID+"/sessions", nil, struct{}{}, &sess); err != nil {
		return err
	}
	pub, kid, err := m.serverKey()
	if err != nil {
		return err
	}
	hdr, _, err := m.encHeaders()
	if err != nil {
		return err
	}
	hdr["Authorization"] = "Bearer " + sess.SessionToken
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: kid},
		(&jose.EncrypterOptions{}).WithContentType("application/json"))
	if err != nil {
		return err
	}
	plain, _ := json.Marshal(map[string]string{"pin": pin})
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return err
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		return err
	}
	return m.call(http.MethodPost, "/customers/me/cards/"+cardID+"/pin", hdr, map[string]string{"payload": compact}, nil)
}
