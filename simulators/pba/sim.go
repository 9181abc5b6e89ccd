// Package pba is the Pay by Account simulator (`cardswitch pba-sim`): it plays the bank server
// (signing trusted identities with the development key of the data directory) and a phone (the
// SDK's calls, the device's cryptograms) against a running switch, pays over ISO 8583 as an
// acquirer, and checks every answer: pairing, digitizing a static and a device token, funding,
// e-commerce with the static token, contactless with device-token cryptograms until the
// credentials run out and are replenished, suspending, deleting, and re-pairing on another device.
package pba

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/pba"
	"github.com/cardswitch/cardswitch/simulators/acquirer"
)

// ErrMismatch is returned when an answer differed from what was expected.
var ErrMismatch = errors.New("pba-sim: answers differed from the expected ones")

// Main is `cardswitch pba-sim`.
func Main(args []string) error { return run(args, os.Stdout, os.Stderr) }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pba-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8583", "switch ISO 8583 listener HOST:PORT")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "switch management API HOST:PORT")
	dataDir := fs.String("data-dir", "./var", "the switch's data directory (the development bank's signing key)")
	keyFile := fs.String("key", "", "the bank's signing key (PEM, PKCS #8); default <data-dir>/"+config.DevPBAKeyFile)
	kid := fs.String("kid", config.DevPBAKID, "the key's kid")
	inst := fs.String("institution", config.DevPBAInstitution, "the bank's institution id (iss)")
	wait := fs.Duration("wait", 0, "wait up to this long for GET /healthz to answer 200 first")
	verbose := fs.Bool("v", false, "print each step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(*dataDir, config.DevPBAKeyFile)
	}
	key, err := pba.LoadSigningKey(*keyFile)
	if err != nil {
		return err
	}
	s := &sim{base: "http://" + *httpAddr, key: key, kid: *kid, inst: *inst, out: stdout, verbose: *verbose,
		http: &http.Client{Timeout: 10 * time.Second}}
	if *wait > 0 {
		if err := s.waitHealthy(*wait); err != nil {
			return err
		}
	}
	conn, err := acquirer.Dial(*addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.iso = conn
	s.play()
	fmt.Fprintf(stdout, "pba-sim: %d steps, %d failed\n", s.steps, s.failed)
	if s.failed > 0 {
		return ErrMismatch
	}
	return nil
}

type sim struct {
	base          string
	http          *http.Client
	key           crypto.Signer
	kid, inst     string
	iso           *acquirer.Conn
	out           io.Writer
	verbose       bool
	steps, failed int
	seq           int64
}

func (s *sim) waitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := s.http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pba-sim: the switch is not healthy after %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check records one step's outcome.
func (s *sim) check(step string, ok bool, detail string) bool {
	s.steps++
	if !ok {
		s.failed++
		fmt.Fprintf(s.out, "pba-sim: FAIL %s: %s\n", step, detail)
	} else if s.verbose {
		fmt.Fprintf(s.out, "pba-sim: ok   %s\n", step)
	}
	return ok
}

// sign is the bank's signDataAsJwt.
func (s *sim) sign(sub, purpose, iban string) string {
	s.seq++
	now := time.Now()
	c := pba.Claims{Issuer: s.inst, Subject: sub, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		ID: fmt.Sprintf("sim-%d-%d", now.UnixNano(), s.seq), Purpose: purpose}
	switch purpose {
	case pba.PurposeAccountInfo:
		c.IBAN, c.CountryCode, c.Email = iban, iban[:2], sub+"@example.com"
	case pba.PurposeIBANInfo:
		c.IBANID = pba.IBANID(pba.ElectronicIBAN(iban))
	}
	t, err := pba.Sign(s.key, s.kid, c)
	if err != nil {
		panic("pba-sim: sign: " + err.Error())
	}
	return t
}

// call posts an operation; it returns the status and the decoded answer.
func (s *sim) call(path, session string, body any, hdr ...string) (int, map[string]any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// expect calls and checks the status (and the error code when one is given).
func (s *sim) expect(step, path, session string, body any, status int, code string, hdr ...string) map[string]any {
	st, out := s.call(path, session, body, hdr...)
	ok := st == status && (code == "" || out["code"] == code)
	s.check(step, ok, fmt.Sprintf("want %d %s, got %d %v", status, code, st, out["code"]))
	return out
}

// pay sends an 0100 and checks field 39.
func (s *sim) pay(step string, req *authz.Request, want string) {
	s.seq++
	n := time.Now().UnixNano()%900000 + s.seq
	req.MTI, req.ProcessingCode, req.HasAmount, req.CurrencyNum = "0100", "000000", true, "978"
	req.STAN, req.RRN = fmt.Sprintf("%06d", n%1000000), fmt.Sprintf("%012d", n)
	req.F7 = time.Now().UTC().Format("0102150405")
	req.LocalTime, req.LocalDate = req.F7[4:], req.F7[:4]
	req.AcquirerID, req.TerminalID, req.MerchantID = "123456", "PBASIM01", "PBASIMMERCHANT1"
	req.MerchantName, req.MCC = "PBA SIMULATOR SHOP       BERLIN       DE", "5999"
	p, err := s.iso.Send(req)
	if err != nil {
		s.check(step, false, err.Error())
		return
	}
	resp, _, err := p.Wait(5 * time.Second)
	if err != nil {
		s.check(step, false, err.Error())
		return
	}
	s.check(step, resp.ResponseCode == want, fmt.Sprintf("field 39 %s, want %s", resp.ResponseCode, want))
}

// str reads a string field of an answer.
func str(m map[string]any, k string) string { v, _ := m[k].(string); return v }

// credentials decrypts transaction credentials with the phone's mobile key.
func credentials(dek string, v any) ([]pba.Credential, error) {
	b, _ := json.Marshal(v)
	var tc pba.TransactionCredentials
	if err := json.Unmarshal(b, &tc); err != nil {
		return nil, err
	}
	return pba.OpenCredentials(dek, tc.Encrypted)
}
