package security

import (
	"bytes"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// needle is one form of a secret that must not be found in the store's files.
type needle struct {
	what string
	b    []byte
}

// secretForms lists the forms in which a card secret could reach a file in clear: ASCII digits,
// hex text of the ASCII (upper and lower case), and for PANs the packed BCD bytes (the hex text
// of the BCD is the ASCII itself). Short values (CVC2: 3 digits, PVV: 4) are not searched as
// bare BCD: 1-2 bytes occur by chance in any ciphertext. The bare 3-digit ASCII CVC2 has a 1 in
// 16.7 million chance per byte of random data; the store holds about 1.3 KB of non-zero bytes
// (logged), so a chance hit is about 1 in 13,000 runs.
func secretForms(what, v string, bcd, bareASCII bool) []needle {
	var out []needle
	if bareASCII {
		out = append(out, needle{what + " ASCII", []byte(v)})
	}
	hx := hex.EncodeToString([]byte(v))
	out = append(out, needle{what + " hex of ASCII", []byte(hx)}, needle{what + " HEX of ASCII", []byte(strings.ToUpper(hx))})
	if bcd {
		b, err := hex.DecodeString(v)
		if err == nil {
			out = append(out, needle{what + " BCD", b})
		}
		if len(v)%2 == 1 {
			if b, err := hex.DecodeString(v + "F"); err == nil {
				out = append(out, needle{what + " BCD F-padded", b})
			}
		}
	}
	return out
}

// scanDir reports every needle found in every regular file under dir.
func scanDir(t *testing.T, dir string, needles []needle) (found []string, files, nonZero int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, c := range data {
			if c != 0 {
				nonZero++
			}
		}
		for _, n := range needles {
			if bytes.Contains(data, n.b) {
				found = append(found, n.what+" in "+filepath.Base(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, files, nonZero
}

// TestNoCardSecretsAtRest writes a card and a token through the real Badger journal, closes it,
// and searches every file of the data directory for the PAN, the token PAN, the CVC2 and the PVV
// in clear. A positive control checks that the scanner finds the same values in a plain file.
func TestNoCardSecretsAtRest(t *testing.T) {
	v, _ := newTestVerifier(t)
	dataKey := bytes.Repeat([]byte{0x5A}, 32)
	hasher := tokenvault.Hasher(dataKey)

	card := testCard(t, v, "demo-mc", mcPAN)
	card.ID, card.BalanceID, card.CustomerID = "card-0001", "bal-0001", "cus-0001"
	card.PANHash = hasher(card.PAN)
	card.Type = ledger.CardPhysical
	tok := testToken(card)
	tok.PANHash = hasher(tok.PAN)

	needles := []needle{
		{"JSON key pan", []byte(`"pan"`)}, {"JSON key cvc2", []byte(`"cvc2"`)}, {"JSON key pvv", []byte(`"pvv"`)},
		{"CVC2 JSON", []byte(`"cvc2":"` + card.CVC2 + `"`)}, {"PVV JSON", []byte(`"pvv":"` + card.PVV + `"`)},
		{"PAN+expiry", []byte(card.PAN + card.ExpiryYYMM)},
	}
	needles = append(needles, secretForms("PAN", card.PAN, true, true)...)
	needles = append(needles, secretForms("token PAN", tok.PAN, true, true)...)
	needles = append(needles, secretForms("CVC2", card.CVC2, false, true)...)
	needles = append(needles, secretForms("PVV", card.PVV, false, true)...)

	dir := t.TempDir()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: dataKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit([]ledger.Change{
		{Table: "card", Key: card.ID, Row: card},
		{Table: "token", Key: tok.ID, Row: tok},
	}); err != nil {
		t.Fatal(err)
	}
	// A CVC2 reset and a new PIN are later versions of the same row: they must be sealed too.
	card2 := *card
	card2.HighestATC = 7
	if err := j.Commit([]ledger.Change{{Table: "card", Key: card2.ID, Row: &card2}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	found, files, nonZero := scanDir(t, dir, needles)
	if files == 0 || nonZero == 0 {
		t.Fatalf("the journal wrote nothing (%d files)", files)
	}
	for _, f := range found {
		t.Errorf("found in clear at rest: %s", f)
	}
	t.Logf("scanned %d files, %d non-zero bytes, %d needles", files, nonZero, len(needles))

	// The rows are really there: reopen and load them back.
	j, err = journal.OpenBadger(journal.Options{Dir: dir, DataKey: dataKey})
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	if got, ok := st.Card(card.ID); !ok || got.PAN != card.PAN || got.CVC2 != card.CVC2 || got.PVV != card.PVV || got.HighestATC != 7 {
		t.Errorf("card not loaded back intact (found %v)", ok)
	}
	if got, ok := st.Token(tok.ID); !ok || got.PAN != tok.PAN {
		t.Errorf("token not loaded back intact (found %v)", ok)
	}

	// Positive control: the same needles in a plain file are all found.
	ctl := t.TempDir()
	var plain bytes.Buffer
	for _, n := range needles {
		plain.Write(n.b)
		plain.WriteByte(0)
	}
	if err := os.WriteFile(filepath.Join(ctl, "plain"), plain.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if found, _, _ := scanDir(t, ctl, needles); len(found) != len(needles) {
		t.Errorf("scanner control found %d of %d needles", len(found), len(needles))
	}
}
