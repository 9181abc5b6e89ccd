package authz

// Kind is what a request asks for, derived from the base MTI and the processing code.
type Kind uint8

// The kinds of request of the contract §2 MTI table.
const (
	KindUnknown        Kind = iota
	KindAuthorization       // 0100: hold on approval
	KindBalanceInquiry      // 0100 with processing code 30xxxx/31xxxx: no hold
	KindFinancial           // 0200: debit at once
	KindRefund              // 0200 with processing code 20xxxx: credit
	KindAuthAdvice          // 0120: booked as a hold even past the available balance
	KindCompletion          // 0220: capture of an earlier authorization (field 90)
	KindReversal            // 0400: full or partial (field 95) reversal of the original (field 90)
	KindReversalAdvice      // 0420: as 0400 but always answered 00
	KindNetworkMgmt         // 0800: sign-on, sign-off, echo
)

var kindNames = [...]string{"unknown", "authorization", "balance_inquiry", "financial", "refund",
	"auth_advice", "completion", "reversal", "reversal_advice", "network_management"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// MovesMoney reports whether an approved request of this kind changes a balance.
func (k Kind) MovesMoney() bool {
	switch k {
	case KindAuthorization, KindFinancial, KindRefund, KindAuthAdvice, KindCompletion,
		KindReversal, KindReversalAdvice:
		return true
	}
	return false
}

// OriginalData is field 90: the key of the original message a completion or reversal names.
type OriginalData struct {
	MTI        string // original MTI, 4 digits
	STAN       string // original field 11, 6 digits
	F7         string // original field 7, 10 digits
	AcquirerID string // original field 32, 11 digits zero-padded
	// ForwardingID is the forwarding institution ID (11 digits); "" is written as 11 zeros.
	ForwardingID string
}

// StoredCredential is field 48 subelements 20, 21 and 22.
type StoredCredential struct {
	Indicator string // "1" cardholder-initiated, "2" merchant recurring, "3" merchant unscheduled
	Agreement string // up to 32 characters
	Terms     string // MIN|MAX|DAYS|DD.MM.YYYY on an initial transaction
}

// Request is one decoded ISO 8583 request in domain terms. Strings hold the field values as
// received (so responses can echo them); a field absent from the message is the empty string.
type Request struct {
	MTI     string // as received, e.g. "0101" for a repeat
	BaseMTI string // the MTI with repeats folded: "0101" -> "0100"
	Kind    Kind

	PAN            string // field 2: card PAN or token PAN
	ProcessingCode string // field 3
	AmountMinor    int64  // field 4
	HasAmount      bool
	F7             string // transmission date-time MMDDhhmmss, UTC
	STAN           string // field 11
	LocalTime      string // field 12
	LocalDate      string // field 13
	ExpiryYYMM     string // field 14
	MCC            string // field 18
	POSEntryMode   string // field 22
	CardSeq        string // field 23
	AcquirerID     string // field 32
	Track2         string // field 35
	RRN            string // field 37
	TerminalID     string // field 41
	MerchantID     string // field 42
	MerchantName   string // field 43
	CurrencyNum    string // field 49, ISO 4217 numeric
	NetworkCode    string // field 70 on 0800: 001 sign-on, 002 sign-off, 301 echo

	CVC2             string // field 48 subelement 92
	StoredCredential StoredCredential
	PINBlock         []byte // field 52, 8 bytes
	ICC              []byte // field 55, BER-TLV bytes (decoded from the hex text)

	Original               *OriginalData // field 90
	ReplacementAmountMinor int64         // field 95 characters 1-12
	HasReplacement         bool
}

// Response is what the switch answers, in domain terms; the codec turns it into an iso87 message.
type Response struct {
	Action         ActionCode
	AuthCode       string // field 38 on approved 0110/0210
	HasBalance     bool   // set field 54
	AvailableMinor int64  // field 54 amount, may be negative
	CurrencyNum    string // field 54 currency
	ICCResponse    []byte // field 55 (tag 91 ARPC + ARC), BER-TLV bytes
}
