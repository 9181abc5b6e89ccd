package acquirer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// MixOptions configure the random mix.
type MixOptions struct {
	Count int    // messages to send
	Seed  uint64 // same seed, same sequence of operations
	// Chip enables chip, contactless, magnetic-stripe and PIN traffic (needs the switch's keys).
	Chip bool
}

// mixAuth is an open authorization of the model.
type mixAuth struct {
	req       *authz.Request
	card      *Card
	heldMinor int64
}

// mixModel predicts every answer from the balances and cards the simulator provisioned. It is
// exact because the mix sends one message at a time.
type mixModel struct {
	available map[string]int64 // balance id -> available minor units
	auths     []*mixAuth
	sent      []sentStep     // approved or declined messages, for retransmissions
	wrongPINs map[string]int // card ref -> consecutive wrong PINs
}

// RunMix sends opts.Count random messages over the world's cards and checks each answer against
// the model's prediction (field 39, and field 54 where the switch sets it).
func (r *Runner) RunMix(opts MixOptions) *Report {
	rep := &Report{Name: fmt.Sprintf("mix seed=%d", opts.Seed)}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9E3779B97F4A7C15))
	m := &mixModel{available: map[string]int64{}, wrongPINs: map[string]int{}}
	var cards []*Card
	for _, b := range r.World.Balances {
		m.available[b.BalanceID] = b.LoadedMinor
	}
	for _, ref := range sortedKeys(r.World.Cards) {
		cards = append(cards, r.World.Cards[ref])
	}
	if len(cards) == 0 {
		rep.Steps = append(rep.Steps, StepResult{Name: "setup", Got: "error", Detail: "no cards"})
		return rep
	}
	type op struct {
		name   string
		weight int
	}
	ops := []op{{"purchase", 30}, {"sale", 8}, {"refund", 5}, {"balance", 6}, {"completion", 10},
		{"reversal", 8}, {"partial-reversal", 4}, {"advice", 3}, {"retransmit", 6}, {"wrong-cvc2", 4},
		{"wrong-expiry", 2}, {"unknown-pan", 2}, {"late-original", 3}, {"echo", 2}}
	if opts.Chip {
		ops = append(ops, op{"chip", 10}, op{"contactless", 8}, op{"magstripe", 3}, op{"cash", 5}, op{"wrong-pin", 2})
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for n := 0; n < opts.Count; n++ {
		x := rng.IntN(total)
		var name string
		for _, o := range ops {
			if x < o.weight {
				name = o.name
				break
			}
			x -= o.weight
		}
		card := cards[rng.IntN(len(cards))]
		amount := int64(100 + rng.IntN(2900)) // 1.00 .. 29.99
		results := r.mixStep(m, name, card, amount, rng)
		for i := range results {
			results[i].Name = fmt.Sprintf("%d-%s", n+1, results[i].Name)
		}
		rep.Steps = append(rep.Steps, results...)
	}
	rep.Late, rep.Unmatched = r.Conn.Late(), r.Conn.Unmatched()
	return rep
}

// expectation is the predicted answer.
type expectation struct {
	code         string
	checkBalance bool
	available    int64
}

func (r *Runner) mixStep(m *mixModel, name string, card *Card, amount int64, rng *rand.Rand) []StepResult {
	if (name == "cash" || name == "wrong-pin") && card.PIN == "" {
		name = "chip" // no PIN was set on this card
	}
	avail := m.available[card.BalanceID]
	spec := Spec{Card: card, AmountMinor: amount}
	var exp expectation
	var after func(resp *codec.ResponseMessage, req *authz.Request)
	approveHold := func() {
		if amount <= avail {
			exp = expectation{code: "00", checkBalance: true, available: avail - amount}
			after = func(resp *codec.ResponseMessage, req *authz.Request) {
				m.available[card.BalanceID] -= amount
				m.auths = append(m.auths, &mixAuth{req: req, card: card, heldMinor: amount})
			}
		} else {
			exp = expectation{code: "51"}
		}
	}
	switch name {
	case "purchase", "chip", "contactless", "magstripe":
		spec.Kind = KindPurchase
		spec.Entry = map[string]string{"purchase": EntryECommerce, "chip": EntryChip, "contactless": EntryContactless,
			"magstripe": EntryMagstripe}[name]
		approveHold()
	case "sale", "cash":
		spec.Kind = KindSale
		if name == "cash" {
			spec.Kind = KindCash
			amount = int64(1000 * (1 + rng.IntN(4))) // 10.00 .. 40.00
			spec.AmountMinor = amount
		}
		if amount <= avail {
			exp = expectation{code: "00", checkBalance: true, available: avail - amount}
			after = func(*codec.ResponseMessage, *authz.Request) {
				m.available[card.BalanceID] -= amount
				if spec.Kind == KindCash {
					m.wrongPINs[card.Ref] = 0
				}
			}
		} else {
			exp = expectation{code: "51"}
		}
	case "refund":
		spec.Kind = KindRefund
		exp = expectation{code: "00", checkBalance: true, available: avail + amount}
		after = func(*codec.ResponseMessage, *authz.Request) { m.available[card.BalanceID] += amount }
	case "balance":
		spec.Kind, spec.Entry = KindBalance, EntryECommerce
		exp = expectation{code: "00", checkBalance: true, available: avail}
	case "advice":
		spec.Kind = KindAdvice
		exp = expectation{code: "00"}
		after = func(resp *codec.ResponseMessage, req *authz.Request) {
			m.available[card.BalanceID] -= amount
			m.auths = append(m.auths, &mixAuth{req: req, card: card, heldMinor: amount})
		}
	case "wrong-cvc2", "wrong-expiry", "wrong-pin":
		if amount > avail {
			return r.mixStep(m, "balance", card, amount, rng)
		}
		spec.Kind = KindPurchase
		switch name {
		case "wrong-cvc2":
			spec.CVC2, exp = "wrong", expectation{code: "N7"}
		case "wrong-expiry":
			spec.Expiry, exp = "wrong", expectation{code: "54"}
		case "wrong-pin":
			// Never a third wrong PIN in a row (it locks the card, 75); an approved cash
			// withdrawal with the right PIN resets the count.
			if m.wrongPINs[card.Ref] >= 2 {
				return r.mixStep(m, "cash", card, amount, rng)
			}
			spec.Kind, spec.Entry, spec.PIN, exp = KindCash, EntryChip, "wrong", expectation{code: "55"}
			after = func(*codec.ResponseMessage, *authz.Request) { m.wrongPINs[card.Ref]++ }
		}
	case "unknown-pan":
		spec.Kind, spec.PAN = KindPurchase, unknownPAN(card)
		exp = expectation{code: "14"}
	case "echo":
		spec.Kind = KindEcho
		exp = expectation{code: "00"}
	case "completion", "reversal", "partial-reversal":
		if len(m.auths) == 0 {
			return r.mixStep(m, "purchase", card, amount, rng)
		}
		i := rng.IntN(len(m.auths))
		a := m.auths[i]
		spec.Card, spec.Original = a.card, a.req
		bal := a.card.BalanceID
		switch name {
		case "completion":
			capture := a.heldMinor
			if capture > 1 && rng.IntN(2) == 0 {
				capture = 1 + rng.Int64N(capture)
			}
			spec.Kind, spec.AmountMinor = KindCompletion, capture
			exp = expectation{code: "00"}
			after = func(*codec.ResponseMessage, *authz.Request) {
				m.available[bal] += a.heldMinor - capture
				m.auths = append(m.auths[:i], m.auths[i+1:]...)
			}
		case "reversal":
			spec.Kind = KindReversal
			exp = expectation{code: "00"}
			after = func(*codec.ResponseMessage, *authz.Request) {
				m.available[bal] += a.heldMinor
				m.auths = append(m.auths[:i], m.auths[i+1:]...)
			}
		case "partial-reversal":
			if a.heldMinor < 2 {
				return r.mixStep(m, "balance", card, amount, rng)
			}
			keep := 1 + rng.Int64N(a.heldMinor-1)
			spec.Kind, spec.ReplacementMinor, spec.HasReplacement = KindReversal, keep, true
			exp = expectation{code: "00"}
			after = func(*codec.ResponseMessage, *authz.Request) {
				m.available[bal] += a.heldMinor - keep
				// A partially reversed authorization is not reversed or completed again by the
				// mix: the contract leaves a second reversal's effect open.
				m.auths = append(m.auths[:i], m.auths[i+1:]...)
			}
		}
	case "retransmit":
		if len(m.sent) == 0 {
			return r.mixStep(m, "balance", card, amount, rng)
		}
		s := m.sent[rng.IntN(len(m.sent))]
		req := s.req
		if rng.IntN(2) == 0 {
			req = Repeat(req)
		}
		res := r.sendCheck("retransmit", req, Expect{Same: true}, s.resp)
		return []StepResult{res}
	case "late-original":
		// A reversal for an original not yet sent (25), then the original (05, no hold).
		if amount > avail {
			amount = avail / 2
			if amount <= 0 {
				return r.mixStep(m, "refund", card, 1000, rng)
			}
		}
		orig, err := r.Builder.Build(Spec{Kind: KindPurchase, Card: card, AmountMinor: amount})
		if err != nil {
			return []StepResult{{Name: name, Kind: name, Got: "error", Detail: err.Error()}}
		}
		rev, err := r.Builder.Build(Spec{Kind: KindReversal, Original: orig})
		if err != nil {
			return []StepResult{{Name: name, Kind: name, Got: "error", Detail: err.Error()}}
		}
		a := r.sendCheck("reversal-first", rev, Expect{Code: "25"}, nil)
		b := r.sendCheck("late-original", orig, Expect{Code: "05"}, nil)
		return []StepResult{a, b}
	}
	req, err := r.Builder.Build(spec)
	if err != nil {
		return []StepResult{{Name: name, Kind: name, Got: "error", Detail: err.Error()}}
	}
	e := Expect{Code: exp.code}
	res := r.sendCheck(name, req, e, nil)
	if res.Answered && res.Matched && exp.checkBalance {
		resp := res.Response
		if !resp.HasBalance {
			res.Matched, res.Detail = false, "no field 54"
		} else if resp.AvailableMinor != exp.available {
			res.Matched, res.Detail = false, fmt.Sprintf("available %s, model %s",
				FormatAmount(resp.AvailableMinor, 2), FormatAmount(exp.available, 2))
		}
	}
	if res.Answered && res.Response.ResponseCode == exp.code && after != nil {
		after(res.Response, req)
	}
	if res.Answered && !res.Matched {
		// Resynchronise so that one wrong answer is reported once, not in every later step.
		resp := res.Response
		if resp.ResponseCode == "00" && exp.code != "00" && (spec.Kind == KindPurchase || spec.Kind == KindAdvice) {
			m.auths = append(m.auths, &mixAuth{req: req, card: spec.Card, heldMinor: req.AmountMinor})
		}
		if resp.HasBalance {
			m.available[spec.Card.BalanceID] = resp.AvailableMinor
		}
	}
	if res.Answered && spec.Kind != KindEcho {
		m.sent = append(m.sent, sentStep{req: req, resp: res.Response})
	}
	return []StepResult{res}
}

// sendCheck sends one request and checks its answer.
func (r *Runner) sendCheck(name string, req *authz.Request, e Expect, original *codec.ResponseMessage) StepResult {
	res := StepResult{Name: name, Kind: name, MTI: mtiOf(req), Want: wantText(e)}
	if e.Same && original != nil {
		res.Want = original.ResponseCode + "="
	}
	resp, lat, err := r.send(req)
	res.Sent = true
	if err != nil {
		res.TimedOut = errors.Is(err, ErrTimeout)
		res.Got, res.Detail = "error", err.Error()
		if res.TimedOut {
			res.Got = "timeout"
		}
		return res
	}
	res.Answered, res.Latency, res.Response, res.Got = true, lat, resp, resp.ResponseCode
	res.Matched, res.Detail = Check(e, resp, original, 2)
	if r.Logf != nil && !res.Matched {
		r.Logf("%s %s: want %s got %s %s", name, res.MTI, res.Want, res.Got, res.Detail)
	}
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// idleEcho sends an 0800/301 whenever nothing was sent for interval, until stop closes.
func (r *Runner) idleEcho(interval time.Duration, stop <-chan struct{}) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if time.Since(time.Unix(0, r.lastSent.Load())) >= interval {
				r.lastSent.Store(time.Now().UnixNano())
				if p, err := r.Conn.Send(r.Builder.Network("301")); err == nil {
					go p.Wait(r.Timeout + time.Second)
				}
			}
		}
	}
}
