package tokenvault

import (
	"fmt"
	"log/slog"

	"github.com/cardswitch/cardswitch/cardcrypto"
)

// ICCSession is what the check of a request's application cryptogram (ARQC) hands to the answer
// of the same request (tag 91 with the ARPC): the keys derived for this card and transaction,
// the ARQC and how the ARPC is formed. It travels as a value in the check results, so the
// Verifier keeps nothing between the check and the answer; the zero value means no cryptogram
// was evaluated and no tag 91 is due. It never prints, logs or marshals its keys.
type ICCSession struct {
	MK, SK      cardcrypto.EDE2 // ICC master key and AC session key (the same without a session key)
	ARQC        [8]byte
	Method      uint8 // ARPC method 1 or 2; 0: none
	ARPCUnderSK bool  // the ARPC is computed under the session key, else under the ICC MK
}

// Ready reports whether the session can answer with an ARPC.
func (s ICCSession) Ready() bool { return s.Method != 0 }

func (s ICCSession) String() string                { return "tokenvault.ICCSession{" + redacted + "}" }
func (s ICCSession) GoString() string              { return s.String() }
func (s ICCSession) Format(f fmt.State, verb rune) { writeFormatted(f, verb, s.String(), s.String()) }
func (s ICCSession) LogValue() slog.Value          { return slog.StringValue(s.String()) }
func (s ICCSession) MarshalJSON() ([]byte, error)  { return []byte(`"` + s.String() + `"`), nil }
