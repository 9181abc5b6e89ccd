// Package tsh plays the token service hub against a running switch (contract §5): it provisions
// a cardholder through the management API, walks an enrolment (eligibility, digitization green,
// yellow with an OTP, red), registers and activates a token, authorizes with it over ISO 8583
// through the token's life (SUSPEND → 62, RESUME → approved, RENEW, DELETE → 14), binds a
// device, reports a stand-in token, and checks every answer. Card data travels in real CMS
// envelopes encrypted to the issuer certificate (tsh/cms.Seal, the shape openssl makes).
//
// `cardswitch sim-tsh` runs it (Main); scripts/demo.sh runs it after the acquirer scenario.
package tsh

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/simulators/acquirer"
	"github.com/cardswitch/cardswitch/tokenvault"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

// ErrMismatch is returned when an answer differed from what the hub expected.
var ErrMismatch = errors.New("sim-tsh: answers differed from the expected ones")

// Config is where the switch is and how the hub talks to it.
type Config struct {
	HTTPAddr string // management listener HOST:PORT
	ISOAddr  string // ISO 8583 listener HOST:PORT
	CertFile string // the issuer certificate the hub encrypts to (PEM)
	IssuerID string // x-issuer-id
	KeyID    string // publicKeyIdentifier
	// Webhook, when set, is the webhook receiver the switch delivers events to (http.webhookUrl
	// pointing at it): the simulator then expects the OTP there.
	Webhook *Webhook
	Timeout time.Duration // per answer; default 5s
	Logf    func(format string, a ...any)
}

// Report counts the checked answers.
type Report struct {
	Checked, Mismatched int
}

// sim is one run.
type sim struct {
	cfg    Config
	cert   *x509.Certificate
	http   *http.Client
	mgmt   *acquirer.Mgmt
	conn   *acquirer.Conn
	rep    Report
	stan   atomic.Int64
	card   cardData
	ref    string // issuerCardRefId
	corrID int
}

type cardData struct {
	id, pan, expYYMM, cvc2 string
}

// Run plays the whole flow once.
func Run(cfg Config) (Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	pemBytes, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return Report{}, fmt.Errorf("sim-tsh: issuer certificate: %w", err)
	}
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return Report{}, errors.New("sim-tsh: issuer certificate: no PEM block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return Report{}, fmt.Errorf("sim-tsh: issuer certificate: %w", err)
	}
	s := &sim{cfg: cfg, cert: cert, http: &http.Client{Timeout: cfg.Timeout}, mgmt: acquirer.NewMgmt(cfg.HTTPAddr)}
	s.stan.Store(time.Now().UnixNano() % 400000)
	if s.conn, err = acquirer.Dial(cfg.ISOAddr, cfg.Timeout); err != nil {
		return Report{}, err
	}
	defer s.conn.Close()
	if err := s.provision(); err != nil {
		return Report{}, err
	}
	if err := s.play(); err != nil {
		return s.rep, err
	}
	if s.rep.Mismatched > 0 {
		return s.rep, fmt.Errorf("%w: %d of %d", ErrMismatch, s.rep.Mismatched, s.rep.Checked)
	}
	return s.rep, nil
}

// provision creates a cardholder with a phone and an email, a loaded balance and a virtual card.
func (s *sim) provision() error {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e9))
	ext := "tsh-sim-" + n.String()
	cust, err := s.mgmt.CreateCustomer(acquirer.CustomerSpec{ExternalID: ext, FirstName: "Wallet", LastName: "Holder",
		Email: "wallet.holder@example.com", Phone: "+33612345678"})
	if err != nil {
		return err
	}
	if err := s.mgmt.SetKYC(cust, "VERIFIED"); err != nil {
		return err
	}
	bal, err := s.mgmt.CreateBalance(cust, "EUR")
	if err != nil {
		return err
	}
	if _, err := s.mgmt.Reload(cust, bal.BalanceID, "100.00", ext); err != nil {
		return err
	}
	card, err := s.mgmt.IssueCard(cust, bal.BalanceID, "VIRTUAL", "demo-mc")
	if err != nil {
		return err
	}
	full, err := s.mgmt.FullCard(card.CardID)
	if err != nil {
		return err
	}
	exp, err := full.ExpiryYYMM()
	if err != nil {
		return err
	}
	s.card = cardData{id: card.CardID, pan: full.PAN, expYYMM: exp, cvc2: full.CVC2}
	s.cfg.Logf("provisioned card %s (%s)", card.CardID, tokenvault.Mask(full.PAN))
	return nil
}

// check records one expectation.
func (s *sim) check(step string, okay bool, got string) {
	s.rep.Checked++
	if okay {
		s.cfg.Logf("ok        %s", step)
		return
	}
	s.rep.Mismatched++
	s.cfg.Logf("MISMATCH  %s: %s", step, got)
}

func (s *sim) corr(prefix string) string {
	s.corrID++
	return fmt.Sprintf("%s-%04d", prefix, s.corrID)
}

func (s *sim) seal(v any, p cms.Padding) string {
	plain, _ := json.Marshal(v)
	text, err := cms.Seal(plain, s.cert, p)
	if err != nil {
		panic("sim-tsh: seal: " + err.Error()) // the certificate parsed as RSA: cannot fail
	}
	return text
}

// call sends one operation; it returns the status and the decoded body.
func (s *sim) call(op, corr string, body map[string]any) (int, map[string]any, error) {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method = http.MethodPost
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.cfg.HTTPAddr+"/tsh/"+op, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("x-correlation-id", corr)
	req.Header.Set("x-issuer-id", s.cfg.IssuerID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("sim-tsh: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		return resp.StatusCode, nil, fmt.Errorf("sim-tsh: %s: answer is not JSON", op)
	}
	return resp.StatusCode, out, nil
}

// expect calls an operation and checks the status and error code.
func (s *sim) expect(step, op, corr string, body map[string]any, status int, code string) (map[string]any, error) {
	got, out, err := s.call(op, corr, body)
	if err != nil {
		return nil, err
	}
	okay := got == status && (code == "" || out["code"] == code)
	s.check(step, okay, fmt.Sprintf("%d %v, want %d %s", got, out, status, code))
	return out, nil
}

// authorize sends an 0100 with pan and checks field 39 and the echo of the PAN in field 2.
func (s *sim) authorize(step, pan string, amountMinor int64, want string) error {
	n := s.stan.Add(1)
	f7 := time.Now().UTC().Format("0102150405")
	req := &authz.Request{MTI: "0100", PAN: pan, ProcessingCode: "000000", AmountMinor: amountMinor, HasAmount: true,
		F7: f7, STAN: fmt.Sprintf("%06d", n%1000000), LocalTime: f7[4:], LocalDate: f7[:4], ExpiryYYMM: s.card.expYYMM,
		POSEntryMode: "010", AcquirerID: "123456", RRN: fmt.Sprintf("%012d", n), TerminalID: "TSHSIM01",
		MerchantID: "TSHSIMMERCHANT1", MerchantName: "CARDSWITCH TSH SIM       PARIS        FR", CurrencyNum: "978", MCC: "5999"}
	resp, _, err := s.conn.RoundTrip(req, s.cfg.Timeout)
	if err != nil {
		return err
	}
	s.check(step, resp.ResponseCode == want && resp.PAN == pan,
		fmt.Sprintf("field 39 %s field 2 %s, want %s", resp.ResponseCode, tokenvault.Mask(resp.PAN), want))
	return nil
}

// tokenPAN draws a Luhn-valid token PAN in the Mastercard development range.
func tokenPAN() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e9))
	body := fmt.Sprintf("535110%09d", n.Int64())
	d, _ := cardcrypto.LuhnCheckDigit(body)
	return body + string(d)
}

func mmyy(yymm string) string { return yymm[2:] + yymm[:2] }

func (s *sim) play() error {
	key, wallet := s.cfg.KeyID, "APPLE_PAY"
	ci := map[string]string{"fpan": s.card.pan, "exp": mmyy(s.card.expYYMM)}
	enrol := s.corr("enrol")

	out, err := s.expect("checkCardEligibility (PKCS#1 v1.5 envelope)", "checkCardEligibility", enrol, map[string]any{
		"cipheredCardInfo": s.seal(ci, cms.PKCS1v15), "publicKeyIdentifier": key, "walletProviderId": wallet,
		"captureMethod": "CAMERA"}, 200, "")
	if err != nil {
		return err
	}
	s.ref, _ = out["issuerCardRefId"].(string)
	s.check("issuerCardRefId is the card's and not its PAN", s.ref == s.card.id && !strings.Contains(s.ref, s.card.pan), s.ref)

	out, err = s.expect("requestCardDigitization without CVV (OAEP envelope)", "requestCardDigitization", enrol, map[string]any{
		"cipheredCardInfo": s.seal(ci, cms.OAEPSHA256), "publicKeyIdentifier": key, "walletProviderId": wallet,
		"tncStatus": true, "tokenType": "SE"}, 200, "")
	if err != nil {
		return err
	}
	methods, _ := out["idvMethodList"].([]any)
	s.check("levelOfTrust yellow with SMS and EMAIL methods", out["levelOfTrust"] == "yellow" && len(methods) == 2, fmt.Sprint(out))
	smsID := ""
	if len(methods) > 0 {
		m, _ := methods[0].(map[string]any)
		smsID, _ = m["id"].(string)
		s.check("SMS method masked", m["type"] == "SMS" && m["value"] == "*********678", fmt.Sprint(m))
	}
	if err := s.otp(enrol, smsID, wallet); err != nil {
		return err
	}

	out, err = s.expect("requestCardDigitization with the right CVV", "requestCardDigitization", enrol, map[string]any{
		"issuerCardRefId": s.ref, "walletProviderId": wallet, "tncStatus": true, "publicKeyIdentifier": key,
		"authenticationValue": s.seal(map[string]string{"cvv": s.card.cvc2}, cms.OAEPSHA256)}, 200, "")
	if err != nil {
		return err
	}
	s.check("levelOfTrust green", out["levelOfTrust"] == "green", fmt.Sprint(out))
	wrong := "000"
	if s.card.cvc2 == wrong {
		wrong = "001"
	}
	out, err = s.expect("requestCardDigitization with a wrong CVV", "requestCardDigitization", enrol, map[string]any{
		"issuerCardRefId": s.ref, "walletProviderId": wallet, "tncStatus": true, "publicKeyIdentifier": key,
		"authenticationValue": s.seal(map[string]string{"cvv": wrong}, cms.PKCS1v15)}, 200, "")
	if err != nil {
		return err
	}
	s.check("levelOfTrust red", out["levelOfTrust"] == "red", fmt.Sprint(out))

	// The token's life.
	tpan, vcid := tokenPAN(), "vc-sim-"+strconv.FormatInt(time.Now().UnixNano(), 36)
	notify := func(step, corr, action string, extra map[string]any, status int, code string) error {
		b := map[string]any{"issuerCardRefId": s.ref, "virtualCardId": vcid, "walletProviderId": wallet, "isPrimary": true}
		if action != "" {
			b["action"] = action
		}
		for k, v := range extra {
			b[k] = v
		}
		_, err := s.expect(step, "notifyVirtualCardChange", corr, b, status, code)
		return err
	}
	info := func(pan string) map[string]any {
		return map[string]any{"tokenInfo": s.seal(map[string]string{"pan": pan, "exp": mmyy(s.card.expYYMM)}, cms.OAEPSHA256),
			"publicKeyIdentifier": key, "tokenType": "SE"}
	}
	steps := []func() error{
		func() error { return notify("token registered (tokenInfo)", enrol, "", info(tpan), 200, "") },
		func() error { return s.authorize("inactive token declines 62", tpan, 5_00, "62") },
		func() error { return notify("ACTIVATE", enrol, "ACTIVATE", nil, 200, "") },
		func() error { return s.authorize("active token approved", tpan, 5_00, "00") },
		func() error { return notify("SUSPEND", s.corr("lcm"), "SUSPEND", nil, 200, "") },
		func() error { return s.authorize("suspended token declines 62", tpan, 5_00, "62") },
		func() error { return notify("RESUME", s.corr("lcm"), "RESUME", nil, 200, "") },
		func() error { return s.authorize("resumed token approved", tpan, 5_00, "00") },
		func() error {
			return notify("RESUME of an active token refused", s.corr("lcm"), "RESUME", nil, 409, "INVALID_TOKEN_TRANSITION")
		},
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	renewed := tokenPAN()
	if err := notify("RENEW to a new token PAN", s.corr("lcm"), "RENEW", info(renewed), 200, ""); err != nil {
		return err
	}
	if err := s.authorize("renewed token PAN approved", renewed, 5_00, "00"); err != nil {
		return err
	}
	if err := s.authorize("old token PAN declines 14", tpan, 5_00, "14"); err != nil {
		return err
	}
	bind := s.corr("bind")
	out, err = s.expect("requestDeviceBinding", "requestDeviceBinding", bind, map[string]any{"deviceBindingReference": "sim-device-1",
		"virtualCardId": vcid, "walletProviderId": wallet, "issuerCardRefId": s.ref}, 200, "")
	if err != nil {
		return err
	}
	s.check("device binding steps up (yellow)", out["levelOfTrust"] == "yellow" && out["idvMethodList"] != nil, fmt.Sprint(out))
	if err := notify("DEVICE_BOUND", bind, "DEVICE_BOUND", map[string]any{"deviceBindingReference": "sim-device-1"}, 200, ""); err != nil {
		return err
	}
	if err := notify("DELETE", s.corr("lcm"), "DELETE", nil, 200, ""); err != nil {
		return err
	}
	if err := s.authorize("deleted token declines 14", renewed, 5_00, "14"); err != nil {
		return err
	}
	if err := notify("ACTIVATE after DELETE refused", s.corr("lcm"), "ACTIVATE", nil, 409, "INVALID_TOKEN_TRANSITION"); err != nil {
		return err
	}

	// Stand-in: the scheme made a token while the issuer could not answer.
	stip := tokenPAN()
	out, err = s.expect("notifyStandInProcess", "notifyStandInProcess", s.corr("stip"), map[string]any{
		"cipheredCardInfo": s.seal(ci, cms.PKCS1v15), "publicKeyIdentifier": key, "virtualCardId": vcid + "-stip",
		"isPrimary": false, "enrollmentStep": "CARD_DIGITIZATION_DONE", "status": "RESUMED", "walletProviderId": "WALLET",
		"source": "TSP", "tokenInfo": s.seal(map[string]string{"pan": stip, "exp": mmyy(s.card.expYYMM)}, cms.OAEPSHA256)}, 200, "")
	if err != nil {
		return err
	}
	s.check("stand-in answers the card's issuerCardRefId", out["issuerCardRefId"] == s.ref, fmt.Sprint(out))
	if err := s.authorize("stand-in token approved", stip, 5_00, "00"); err != nil {
		return err
	}
	out, err = s.expect("healthCheck", "healthCheck", s.corr("hc"), nil, 200, "")
	if err != nil {
		return err
	}
	s.check("healthCheck status ok", out["status"] == "ok", fmt.Sprint(out))
	return nil
}

// otp asks the issuer to send an OTP. With a webhook receiver, the OTP must arrive there as a
// signed tsh.otp event for the method chosen.
func (s *sim) otp(corr, methodID, wallet string) error {
	body := map[string]any{"walletProviderId": wallet, "issuerCardRefId": s.ref, "otpMethodId": methodID}
	if _, err := s.expect("sendOTP", "sendOTP", corr, body, 200, ""); err != nil || s.cfg.Webhook == nil {
		return err // without a receiver the delivery cannot be checked here
	}
	select {
	case ev := <-s.cfg.Webhook.OTPs:
		otp, _ := ev["otpValue"].(string)
		s.check("OTP delivered to the webhook", ev["cardId"] == s.card.id && ev["otpMethodId"] == methodID &&
			ev["correlationId"] == corr && len(otp) == 6, fmt.Sprint(ev["cardId"], ev["otpMethodId"], ev["correlationId"]))
	case <-time.After(3 * s.cfg.Timeout):
		s.check("OTP delivered to the webhook", false, "no tsh.otp event")
	}
	return nil
}

// Webhook receives the switch's events and verifies their signature; tsh.otp data go to OTPs.
type Webhook struct {
	Secret []byte
	OTPs   chan map[string]any
	srv    *http.Server
	ln     net.Listener
}

// ListenWebhook starts a receiver on addr (HOST:PORT; port 0 picks one). Close stops it.
func ListenWebhook(addr string, secret []byte) (*Webhook, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim-tsh: webhook: %w", err)
	}
	w := &Webhook{Secret: secret, OTPs: make(chan map[string]any, 16), ln: ln}
	w.srv = &http.Server{Handler: http.HandlerFunc(w.serve), ReadHeaderTimeout: 5 * time.Second}
	go w.srv.Serve(ln) // stopped by Close
	return w, nil
}

// URL is the receiver's address for http.webhookUrl.
func (w *Webhook) URL() string { return "http://" + w.ln.Addr().String() + "/events" }

// Close stops the receiver.
func (w *Webhook) Close() error { return w.srv.Close() }

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	sig := r.Header.Get("Cardswitch-Signature")
	var ts int64
	var v1 string
	for _, part := range strings.Split(sig, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			switch k {
			case "t":
				ts, _ = strconv.ParseInt(v, 10, 64)
			case "v1":
				v1 = v
			}
		}
	}
	m := hmac.New(sha256.New, w.Secret)
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(v1)) {
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(body, &ev) == nil && ev.Type == "tsh.otp" {
		select {
		case w.OTPs <- ev.Data:
		default: // nobody waits for so many: drop (the switch retries nothing it got a 2xx for)
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}
