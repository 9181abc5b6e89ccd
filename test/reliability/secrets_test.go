package reliability

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/security"
)

// secret is one value that must not appear in an output, in every form it is searched in.
type secret struct {
	what    string
	forms   [][]byte
	keyFile bool // allowed in dev-keys.json (the development key file) and nowhere else
}

func textForms(what, v string, keyFile bool) secret {
	forms := [][]byte{[]byte(v)}
	if up := strings.ToUpper(v); up != v {
		forms = append(forms, []byte(up))
	}
	if lo := strings.ToLower(v); lo != v {
		forms = append(forms, []byte(lo))
	}
	return secret{what: what, forms: forms, keyFile: keyFile}
}

// hexKey is a key as hex text (both cases) and as raw bytes.
func hexKey(what, h string) secret {
	s := textForms(what, h, true)
	if raw, err := hex.DecodeString(h); err == nil {
		s.forms = append(s.forms, raw)
	}
	return s
}

// panForms: ASCII digits, packed BCD bytes (the hex text of which is the PAN itself), the hex of
// the ASCII digits (upper and lower case), and base64 of the ASCII digits.
func panForms(p string) secret {
	s := secret{what: "PAN", forms: [][]byte{[]byte(p)}}
	if len(p)%2 == 0 {
		bcd, _ := hex.DecodeString(p)
		s.forms = append(s.forms, bcd)
	}
	h := hex.EncodeToString([]byte(p))
	s.forms = append(s.forms, []byte(h), []byte(strings.ToUpper(h)))
	// The PAN split for display (4-digit groups).
	s.forms = append(s.forms, []byte(p[:4]+" "+p[4:8]+" "+p[8:12]))
	return s
}

// TestNoSecretsInLogsMetricsOrFiles runs a full scenario (provisioning through the API, PIN set,
// e-commerce with CVC2, PIN, chip and magnetic stripe transactions, good and bad), with the
// app's logger writing JSON at DEBUG level, then searches every log line, the /metrics text and
// every file of the data directory for the PAN, the CVC2, the PIN, the PIN blocks, the track 2
// and the keys. Keys may appear only in dev-keys.json.
func TestNoSecretsInLogsMetricsOrFiles(t *testing.T) {
	s := startSwitch(t)
	c := s.issue("500.00")
	cfg := s.cfg
	prog, _ := cfg.Program("demo-mc")

	// PIN: a 12-digit one so that a search for it means something (a 4-digit string occurs by
	// chance in any log with timestamps).
	const pin = "739164825071"
	const wrongPIN = "482910637254"
	tok := s.session(c.customerID)
	hdr, body := s.encrypted(`{"pin":"` + pin + `"}`)
	hdr["Authorization"] = "Bearer " + tok
	s.must(204, s.do("POST", "/customers/me/cards/"+c.cardID+"/pin", body, hdr))

	rc := s.dial()
	send := func(r *authz.Request, want string) {
		t.Helper()
		if got := rc.roundTrip(s.build(r)); got.ResponseCode != want {
			t.Fatalf("%s pos %s: 39=%s, want %s", r.MTI, r.POSEntryMode, got.ResponseCode, want)
		}
	}
	wrongCVC2 := string([]byte{'0' + (c.cvc2[0]-'0'+1)%10, c.cvc2[1], c.cvc2[2]})

	// E-commerce with CVC2, right and wrong.
	r := s.req("0100", "000000", c.pan, c.expiry, 1000)
	r.CVC2 = c.cvc2
	send(r, "00")
	r = s.req("0100", "000000", c.pan, c.expiry, 1000)
	r.CVC2 = wrongCVC2
	send(r, "N7")

	// PIN, right and wrong.
	zpk := config.Key(cfg.Security.ZPK)
	goodBlock, err := security.BuildPINBlock(zpk, c.pan, pin)
	if err != nil {
		t.Fatal(err)
	}
	badBlock, _ := security.BuildPINBlock(zpk, c.pan, wrongPIN)
	r = s.req("0200", "010000", c.pan, c.expiry, 2000)
	r.POSEntryMode, r.PINBlock = "051", goodBlock
	send(r, "00")
	r = s.req("0200", "010000", c.pan, c.expiry, 2000)
	r.POSEntryMode, r.PINBlock = "051", badBlock
	send(r, "55")

	// Magnetic stripe (track 2 with CVV), right and altered.
	track, err := security.BuildTrack2(config.Key(prog.Keys.CVK), c.pan, c.expiry, "101")
	if err != nil {
		t.Fatal(err)
	}
	r = s.req("0200", "000000", c.pan, "", 500)
	r.POSEntryMode, r.Track2 = "901", track
	send(r, "00")
	badTrack := []byte(track)
	i := len(badTrack) - 8
	badTrack[i] = '0' + (badTrack[i]-'0'+1)%10
	r = s.req("0200", "000000", c.pan, "", 500)
	r.POSEntryMode, r.Track2 = "901", string(badTrack)
	send(r, "N7")

	// Chip: a good ARQC, a replayed one, one for another amount.
	icc, err := security.BuildARQCField55(prog, c.pan, c.psn, 21, 1500, "978", [4]byte{1, 2, 3, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = s.req("0100", "000000", c.pan, c.expiry, 1500)
	r.POSEntryMode, r.ICC, r.CardSeq = "051", icc, "0"+c.psn
	send(r, "00")
	r = s.req("0100", "000000", c.pan, c.expiry, 1500)
	r.POSEntryMode, r.ICC, r.CardSeq = "051", icc, "0"+c.psn
	send(r, "82")
	icc2, _ := security.BuildARQCField55(prog, c.pan, c.psn, 22, 1500, "978", [4]byte{5, 6, 7, 8}, nil)
	r = s.req("0100", "000000", c.pan, c.expiry, 1600)
	r.POSEntryMode, r.ICC, r.CardSeq = "051", icc2, "0"+c.psn
	send(r, "82")

	// A malformed message carrying the PAN and CVC2 (format errors are logged).
	bad := s.req("0100", "000000", c.pan, c.expiry, 100)
	bad.CVC2 = c.cvc2
	msg := s.build(bad)
	send2 := replaceOnce(t, msg, "000000000100", "00000000010X")
	if got := rc.roundTrip(send2); got.ResponseCode != "30" {
		t.Fatalf("malformed: 39=%s", got.ResponseCode)
	}
	// An undecodable one (dropped) that still carries the PAN.
	rc.write(append([]byte("0100ZZZZ"), c.pan...))

	// Management calls that carry card data: the external lock by PAN (encrypted), a wrong PAN.
	hdr2, body2 := s.encrypted(`{"pan":"` + c.pan + `","reasonCode":3,"source":"NETWORK","reference":"case-1"}`)
	s.must(200, s.do("POST", "/secure/external-locks", body2, hdr2))
	s.must(200, s.do("POST", "/secure/cards/"+c.cardID+"/unlock", nil, nil))
	hdr3, body3 := s.encrypted(`{"pan":"` + c.pan[:len(c.pan)-1] + `X","reasonCode":3,"source":"NETWORK"}`)
	s.must(400, s.do("POST", "/secure/external-locks", body3, hdr3))
	// Full card data read again (audited) and a CVC2 reset.
	h4, _ := s.encrypted("")
	s.open(s.must(200, s.do("GET", "/secure/cards/"+c.cardID+"/full", nil, h4)))
	s.must(200, s.do("POST", "/secure/cards/"+c.cardID+"/reset-cvc2", nil, nil))
	h5, _ := s.encrypted("")
	newCVC2 := s.open(s.must(200, s.do("GET", "/secure/cards/"+c.cardID+"/full", nil, h5)))["cvc2"].(string)
	rc.roundTrip(s.echo())

	metricsText := s.must(200, s.do("GET", "/metrics", nil, nil)).body
	s.waitEngineIdle()
	s.stop() // flush the journal and close every file
	logs := s.logs.Bytes()
	if !bytes.Contains(logs, []byte(`"level":"DEBUG"`)) {
		t.Fatal("no DEBUG line was logged: the scan would prove little")
	}
	// Every log line is JSON.
	for _, line := range bytes.Split(bytes.TrimSpace(logs), []byte("\n")) {
		if !json.Valid(line) {
			t.Fatalf("log line is not JSON: %.200s", line)
		}
	}

	secrets := []secret{
		panForms(c.pan),
		textForms("PIN", pin, false),
		textForms("wrong PIN", wrongPIN, false),
		{what: "PIN block", forms: [][]byte{[]byte(strings.ToUpper(hex.EncodeToString(goodBlock))), []byte(hex.EncodeToString(goodBlock)), goodBlock}},
		{what: "wrong PIN block", forms: [][]byte{[]byte(strings.ToUpper(hex.EncodeToString(badBlock))), []byte(hex.EncodeToString(badBlock)), badBlock}},
		textForms("track 2", track, false),
		textForms("track 2 discretionary data", track[strings.IndexAny(track, "=D")+1:], false),
		textForms("altered track 2", string(badTrack), false),
		hexKey("ZPK", cfg.Security.ZPK),
		hexKey("data key", cfg.Security.DataKey),
	}
	for _, p := range cfg.Programs {
		secrets = append(secrets, hexKey(p.Name+" IMK-AC", p.Keys.IMKAC), hexKey(p.Name+" CVK", p.Keys.CVK), hexKey(p.Name+" PVK", p.Keys.PVK))
	}
	// A CVC2 is three digits: alone it occurs by chance everywhere, so it is searched where it
	// would be if leaked: as field 48 subelement 92, and as a JSON or key=value attribute.
	for _, v := range []struct{ what, v string }{{"CVC2", c.cvc2}, {"wrong CVC2", wrongCVC2}, {"new CVC2", newCVC2}} {
		secrets = append(secrets, secret{what: v.what, forms: [][]byte{
			[]byte("9203" + v.v), []byte(`"cvc2":"` + v.v + `"`), []byte(`"CVC2":"` + v.v + `"`),
			[]byte("cvc2=" + v.v), []byte(`"cvv2":"` + v.v + `"`)}})
	}

	check := func(where string, data []byte, keyFile bool) {
		for _, sec := range secrets {
			if keyFile && sec.keyFile {
				continue
			}
			for _, f := range sec.forms {
				if len(f) == 0 {
					continue
				}
				if i := bytes.Index(data, f); i >= 0 {
					lo, hi := max(0, i-80), min(len(data), i+len(f)+40)
					t.Errorf("%s found in %s at %d: …%q…", sec.what, where, i, mask(data[lo:hi], f))
					break
				}
			}
		}
	}
	check("the logs", logs, false)
	check("/metrics", metricsText, false)
	files := 0
	err = filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(s.dir, path)
		check(rel, data, rel == "dev-keys.json")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The key file is where the keys are, and only the owner may read it.
	if st, err := os.Stat(filepath.Join(s.dir, "dev-keys.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dev-keys.json: %v %v", st.Mode(), err)
	}
	if os.Getenv("REL_DUMP_LOGS") != "" {
		t.Logf("%s", logs)
	}
	t.Logf("searched %d secrets in %d bytes of logs, %d bytes of metrics and %d files", len(secrets), len(logs), len(metricsText), files)
}

// mask hides the secret in a failure message (the test output may be kept).
func mask(ctx, secretForm []byte) []byte {
	return bytes.ReplaceAll(ctx, secretForm, bytes.Repeat([]byte{'#'}, len(secretForm)))
}
