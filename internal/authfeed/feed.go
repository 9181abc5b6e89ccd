// Package authfeed keeps the latest decided authorizations in memory for the operator panel's
// live stream: masked PAN (first 6 and last 4 digits, the most PCI DSS allows to display),
// amount, currency, merchant, action code and latency. The full PAN never enters it: the mask is
// applied while the digits are copied into the ring's fixed-size slot.
//
// Record runs on the ISO answer path (dispatch), so it neither allocates nor blocks for long:
// one short mutex hold and fixed-size copies into a preallocated ring. Readers (the panel,
// about once a second per open page) copy entries out under the same mutex.
package authfeed

import (
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/authz"
)

// DefaultEntries is the ring's size when New is given 0: the newest entries are kept, an older
// one is overwritten by each new one (the panel shows the latest, not a history).
const DefaultEntries = 256

// Field widths of a slot; longer values are cut (merchant name: field 43 is 40 characters).
const (
	panBytesMax      = 19
	merchantBytesMax = 40
	midBytesMax      = 15
)

type slot struct {
	seq         uint64
	atUnixNano  int64
	latencyNano int64
	amountMinor int64
	action      authz.ActionCode
	kind        authz.Kind
	hasAmount   bool
	mti         [4]byte
	currency    [3]byte
	mcc         [4]byte
	pan         [panBytesMax]byte
	panLen      uint8
	merchant    [merchantBytesMax]byte
	merchantLen uint8
	mid         [midBytesMax]byte
	midLen      uint8
}

// Feed is the ring of the latest decided authorizations. The zero value is not usable: New.
type Feed struct {
	mu   sync.Mutex
	ring []slot
	seq  uint64 // the last sequence number given
}

// New makes a feed keeping the latest entries (0: DefaultEntries).
func New(entries int) *Feed {
	if entries <= 0 {
		entries = DefaultEntries
	}
	return &Feed{ring: make([]slot, entries)}
}

// Decided records one answered request (dispatch.Tap). Network management is not recorded.
func (f *Feed) Decided(req *authz.Request, action authz.ActionCode, at time.Time, latency time.Duration) {
	if req == nil || req.Kind == authz.KindNetworkMgmt {
		return
	}
	f.mu.Lock()
	f.seq++
	s := &f.ring[f.seq%uint64(len(f.ring))]
	s.seq = f.seq
	s.atUnixNano = at.UnixNano()
	s.latencyNano = int64(latency)
	s.amountMinor, s.hasAmount = req.AmountMinor, req.HasAmount
	s.action, s.kind = action, req.Kind
	copy(s.mti[:], req.BaseMTI)
	s.currency = [3]byte{}
	copy(s.currency[:], req.CurrencyNum)
	s.mcc = [4]byte{}
	copy(s.mcc[:], req.MCC)
	s.panLen = uint8(maskInto(&s.pan, req.PAN))
	s.merchantLen = uint8(copy(s.merchant[:], req.MerchantName))
	s.midLen = uint8(copy(s.mid[:], req.MerchantID))
	f.mu.Unlock()
}

// maskInto copies pan into dst with all but the first 6 and last 4 digits replaced by '*'
// (codec.MaskPAN's rule without its allocation); a value shorter than 13 is masked entirely,
// one longer than dst is cut before masking, so its middle is masked either way.
func maskInto(dst *[panBytesMax]byte, pan string) int {
	n := copy(dst[:], pan)
	if n < 13 {
		for i := 0; i < n; i++ {
			dst[i] = '*'
		}
		return n
	}
	if len(pan) > n { // keep the real last 4 at the end of the cut value
		copy(dst[n-4:n], pan[len(pan)-4:])
	}
	for i := 6; i < n-4; i++ {
		dst[i] = '*'
	}
	return n
}

// Authorization is one entry as readers see it.
type Authorization struct {
	Seq          uint64           `json:"seq"`
	At           time.Time        `json:"at"`
	MTI          string           `json:"mti"`
	Kind         string           `json:"kind"`
	MaskedPAN    string           `json:"maskedPan"`
	AmountMinor  int64            `json:"amountMinor"`
	HasAmount    bool             `json:"hasAmount"`
	CurrencyNum  string           `json:"currencyNum"`
	MerchantName string           `json:"merchantName"`
	MerchantID   string           `json:"merchantId"`
	MCC          string           `json:"mcc"`
	Action       authz.ActionCode `json:"-"`
	ActionCode   string           `json:"actionCode"`   // the seed's action code, e.g. 1016
	ResponseCode string           `json:"responseCode"` // field 39 as answered, e.g. 51
	Approved     bool             `json:"approved"`
	LatencyMicro int64            `json:"latencyMicros"`
}

// Since returns the entries with a sequence above afterSeq still in the ring, oldest first, at
// most max (the newest of them), and the feed's latest sequence.
func (f *Feed) Since(afterSeq uint64, max int) ([]Authorization, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.seq
	first := afterSeq + 1
	if n := uint64(len(f.ring)); last >= n && first <= last-n {
		first = last - n + 1 // older ones were overwritten
	}
	if max > 0 && last >= first && last-first+1 > uint64(max) {
		first = last - uint64(max) + 1
	}
	var out []Authorization
	for q := first; q <= last && q > afterSeq; q++ {
		s := &f.ring[q%uint64(len(f.ring))]
		out = append(out, Authorization{Seq: s.seq, At: time.Unix(0, s.atUnixNano).UTC(), MTI: string(s.mti[:]),
			Kind: s.kind.String(), MaskedPAN: string(s.pan[:s.panLen]), AmountMinor: s.amountMinor, HasAmount: s.hasAmount,
			CurrencyNum: trimZero(s.currency[:]), MerchantName: string(s.merchant[:s.merchantLen]),
			MerchantID: string(s.mid[:s.midLen]), MCC: trimZero(s.mcc[:]), Action: s.action, ActionCode: s.action.String(), ResponseCode: s.action.Field39(),
			Approved: s.action.IsApproved(), LatencyMicro: s.latencyNano / 1000})
	}
	return out, last
}

func trimZero(b []byte) string {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return string(b[:n])
}
