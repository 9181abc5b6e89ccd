package acquirer

import (
	"errors"
	"fmt"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// Runner plays steps on one connection and checks the answers.
type Runner struct {
	Conn    *Conn
	Builder *Builder
	Mgmt    CardAdmin // for lock/unlock steps; nil: they fail
	World   *World    // provisioned cards
	Timeout time.Duration
	// Logf, when not nil, gets one line per step (no card data).
	Logf func(format string, a ...any)

	lastSent atomic.Int64 // unix nanos of the last request written (idle echo)
}

// CardAdmin carries out the management steps (lock, unlock, cancel-agreement); *Mgmt does it
// over the API.
type CardAdmin interface {
	LockCard(cardID string, reason int) error
	UnlockCard(cardID string) error
	CancelAgreement(cardID, reference string) error
}

// StepResult is the outcome of one step.
type StepResult struct {
	Name     string
	Kind     string
	MTI      string
	Sent     bool
	Answered bool
	Matched  bool
	TimedOut bool
	Want     string
	Got      string
	Detail   string
	Latency  time.Duration
	Response *codec.ResponseMessage `json:"-"`
}

// Report is the outcome of a run.
type Report struct {
	Name      string
	Steps     []StepResult
	Late      int64
	Unmatched int64
}

// sentStep is a step's request and answer, for references by later steps.
type sentStep struct {
	req  *authz.Request
	resp *codec.ResponseMessage
}

// RunScenario plays every step of s in order.
func (r *Runner) RunScenario(s *Scenario) *Report {
	rep := &Report{Name: s.Name}
	if r.Timeout == 0 {
		r.Timeout = s.Timeout
	}
	index := map[string]int{}
	for i, st := range s.Steps {
		index[st.Name] = i
	}
	built := map[int]*sentStep{}
	// build returns the request of step i, built once (a reversal may name a later step).
	build := func(i int) (*authz.Request, error) {
		if b, ok := built[i]; ok {
			return b.req, nil
		}
		req, err := r.buildStep(s, i, built, index)
		if err != nil {
			return nil, err
		}
		built[i] = &sentStep{req: req}
		return req, nil
	}
	for i, st := range s.Steps {
		if st.Delay > 0 {
			time.Sleep(st.Delay)
		}
		res := StepResult{Name: st.Name, Kind: st.Kind, Want: wantText(st.Expect)}
		switch st.Kind {
		case StepPause:
			res.Matched, res.Want, res.Got = true, "-", "-"
		case StepLock, StepUnlock, StepCancelAgreement:
			res.Want, res.MTI = "ok", "HTTP"
			err := r.manage(st)
			res.Sent, res.Answered = true, err == nil
			if err != nil {
				res.Got, res.Detail = "error", err.Error()
			} else {
				res.Got, res.Matched = "ok", true
			}
		default:
			var req *authz.Request
			var err error
			var refResp *codec.ResponseMessage
			if st.Kind == StepRetransmit {
				ref := built[index[st.Ref]]
				if ref == nil || ref.req == nil {
					err = fmt.Errorf("ref %q was not sent", st.Ref)
				} else {
					req, refResp = ref.req, ref.resp
					if st.Repeat {
						req = Repeat(req)
					}
				}
			} else {
				req, err = build(i)
			}
			if err != nil {
				res.Got, res.Detail = "error", err.Error()
				break
			}
			// Forward-referenced originals resolve now that the reversal built them.
			if (st.Kind == KindCompletion || st.Kind == KindReversal || st.Kind == KindReversalAdvice) && req.Original == nil {
				res.Got, res.Detail = "error", "original not built"
				break
			}
			res.MTI = mtiOf(req)
			resp, lat, err := r.send(req)
			res.Sent = true
			if err != nil {
				res.TimedOut = errors.Is(err, ErrTimeout)
				res.Got, res.Detail = "timeout", err.Error()
				if !res.TimedOut {
					res.Got = "error"
				}
				break
			}
			res.Answered, res.Latency, res.Response = true, lat, resp
			res.Got = resp.ResponseCode
			if st.Kind != StepRetransmit {
				built[i].resp = resp
			}
			exp := st.Expect
			res.Matched, res.Detail = Check(exp, resp, refResp, r.exponentOf(st))
		}
		if r.Logf != nil {
			mark := "ok"
			if !res.Matched {
				mark = "MISMATCH"
			}
			r.Logf("%-28s %-5s want %-4s got %-7s %-8s %s", res.Name, res.MTI, res.Want, res.Got, mark, res.Detail)
		}
		rep.Steps = append(rep.Steps, res)
	}
	rep.Late, rep.Unmatched = r.Conn.Late(), r.Conn.Unmatched()
	return rep
}

func wantText(e Expect) string {
	if e.Same {
		if e.Code != "" {
			return e.Code + "="
		}
		return "same"
	}
	return e.Code
}

func (r *Runner) exponentOf(st Step) int {
	if r.World != nil {
		if c := r.World.Cards[st.Card]; c != nil {
			for _, b := range r.World.Balances {
				if b.BalanceID == c.BalanceID {
					return b.Exponent
				}
			}
		}
	}
	return 2
}

// send writes req and waits for its answer.
func (r *Runner) send(req *authz.Request) (*codec.ResponseMessage, time.Duration, error) {
	r.lastSent.Store(time.Now().UnixNano())
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	return r.Conn.RoundTrip(req, timeout)
}

func (r *Runner) card(ref string) (*Card, error) {
	if r.World == nil || r.World.Cards[ref] == nil {
		return nil, fmt.Errorf("card %q not provisioned", ref)
	}
	return r.World.Cards[ref], nil
}

func (r *Runner) manage(st Step) error {
	if r.Mgmt == nil {
		return errors.New("no management API (--http-addr)")
	}
	c, err := r.card(st.Card)
	if err != nil {
		return err
	}
	switch st.Kind {
	case StepLock:
		return r.Mgmt.LockCard(c.CardID, st.Reason)
	case StepCancelAgreement:
		return r.Mgmt.CancelAgreement(c.CardID, st.Agreement)
	}
	return r.Mgmt.UnlockCard(c.CardID)
}

// buildStep builds the request of message step i.
func (r *Runner) buildStep(s *Scenario, i int, built map[int]*sentStep, index map[string]int) (*authz.Request, error) {
	st := s.Steps[i]
	spec := Spec{Kind: st.Kind, Entry: st.Entry, CVC2: st.CVC2, PIN: st.PIN, Expiry: st.Expiry, BadARQC: st.BadARQC, MCC: st.MCC,
		MerchantID: st.MerchantID}
	if st.StoredCredential != nil {
		sc, err := st.StoredCredential.Resolve(r.Builder.Now())
		if err != nil {
			return nil, err
		}
		spec.Stored = sc
	}
	if st.Card != "" {
		c, err := r.card(st.Card)
		if err != nil {
			return nil, err
		}
		spec.Card = c
	}
	switch st.PAN {
	case "":
	case "unknown":
		spec.PAN = unknownPAN(spec.Card)
	default:
		spec.PAN = st.PAN
	}
	if st.Currency != "" {
		spec.CurrencyNum = currencyNumeric(st.Currency)
	}
	cur := "EUR"
	if spec.Card != nil && spec.Card.CurrencyNum != "" {
		cur = spec.Card.CurrencyNum
	}
	if st.Amount != "" {
		v, err := ParseAmount(st.Amount, cur)
		if err != nil {
			return nil, err
		}
		spec.AmountMinor = v
		if st.Kind == KindReversal || st.Kind == KindReversalAdvice {
			spec.ReplacementMinor, spec.HasReplacement = v, true
		}
	}
	if st.Kind == KindCompletion || st.Kind == KindReversal || st.Kind == KindReversalAdvice {
		j := index[st.Ref]
		o := built[j]
		if o == nil {
			// A forward reference: build the original now; it is sent at its own turn.
			req, err := r.buildStep(s, j, built, index)
			if err != nil {
				return nil, fmt.Errorf("original %q: %w", st.Ref, err)
			}
			o = &sentStep{req: req}
			built[j] = o
		}
		spec.Original = o.req
		if st.Kind != KindCompletion {
			spec.AmountMinor = 0
		}
	}
	return r.Builder.Build(spec)
}

// unknownPAN returns a Luhn-valid PAN in the card's BIN range (or the demo Mastercard BIN) that
// no card is likely to have.
func unknownPAN(c *Card) string {
	prefix := "535110"
	if c != nil && len(c.PAN) >= 6 {
		prefix = c.PAN[:6]
	}
	body := prefix + fmt.Sprintf("%09d", time.Now().UnixNano()%1e9)
	return body + luhnDigit(body)
}

// luhnDigit is the Luhn check digit of a PAN body (digits only, by construction).
func luhnDigit(body string) string {
	d, err := cardcrypto.LuhnCheckDigit(body)
	if err != nil {
		panic("acquirer: PAN body not digits")
	}
	return string(d)
}

// Check compares an answer with the expectation: field 39; for a retransmission, the very
// answer of the original (39, 38 and 54); the available balance of field 54; field 38.
// It returns whether the answer matches and, if not, why.
func Check(e Expect, resp, original *codec.ResponseMessage, exponent int) (bool, string) {
	if resp == nil {
		return false, "no answer"
	}
	var why []string
	if e.Code != "" && resp.ResponseCode != e.Code {
		why = append(why, fmt.Sprintf("field 39 %s, want %s", resp.ResponseCode, e.Code))
	}
	if e.Same {
		switch {
		case original == nil:
			why = append(why, "no original answer to compare with")
		default:
			if resp.ResponseCode != original.ResponseCode {
				why = append(why, fmt.Sprintf("field 39 %s, first answer %s", resp.ResponseCode, original.ResponseCode))
			}
			if resp.AuthCode != original.AuthCode {
				why = append(why, fmt.Sprintf("field 38 %q, first answer %q", resp.AuthCode, original.AuthCode))
			}
			if resp.HasBalance != original.HasBalance || resp.AvailableMinor != original.AvailableMinor {
				why = append(why, "field 54 differs from the first answer")
			}
		}
	}
	if e.Available != "" {
		neg := strings.HasPrefix(e.Available, "-")
		want, err := ParseAmount(strings.TrimPrefix(e.Available, "-"), exponentCurrency(exponent))
		if neg {
			want = -want
		}
		switch {
		case err != nil:
			why = append(why, "bad expected amount")
		case !resp.HasBalance:
			why = append(why, "no field 54")
		case resp.AvailableMinor != want:
			why = append(why, fmt.Sprintf("available %s, want %s", FormatAmount(resp.AvailableMinor, exponent), e.Available))
		}
	}
	if e.AuthCode && resp.AuthCode == "" {
		why = append(why, "no field 38")
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// exponentCurrency names a currency with the exponent, for ParseAmount.
func exponentCurrency(exp int) string {
	switch exp {
	case 0:
		return "JPY"
	case 3:
		return "KWD"
	}
	return "EUR"
}
