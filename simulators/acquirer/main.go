package acquirer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// ErrMismatch is returned by Main when an answer differed from what was expected.
var ErrMismatch = errors.New("sim: answers differed from the expected ones")

// Main is `cardswitch sim`: sign on, play a scenario or a random mix, sign off, print a summary.
// It returns ErrMismatch (wrapped) when any answer differed from the expectation.
func Main(args []string) error { return runSim(args, os.Stdout, os.Stderr) }

func runSim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8583", "switch ISO 8583 listener HOST:PORT, or a group's members' as a comma-separated list (the first that accepts: the leader)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "switch management API HOST:PORT (provisioning, lock steps), or a group's members' as a comma-separated list (the one whose /healthz is 200)")
	cfgPath := fs.String("config", "", "the switch's config file (keys for chip, PIN and track 2 traffic)")
	dataDir := fs.String("data-dir", "", "the switch's data directory (development keys, dev-keys.json)")
	scenarioPath := fs.String("scenario", "", "scenario file to play (YAML)")
	mix := fs.Bool("mix", false, "play a random mix instead of a scenario")
	count := fs.Int("count", 200, "mix: number of messages")
	seed := fs.Uint64("seed", 0, "mix: random seed (0: time-based, printed)")
	reload := fs.String("reload", "500.00", "mix: amount each provisioned balance is reloaded with")
	provisionDemo := fs.Bool("provision-demo", false, "only provision the demo customer, balance and cards, write --cards-out, exit")
	cardsOut := fs.String("cards-out", "", "write the provisioned cards (clear PAN, CVC2, PIN: development only) to FILE, mode 0600")
	cardsIn := fs.String("cards", "", "use the cards of FILE (written by --cards-out) instead of provisioning")
	wait := fs.Duration("wait", 0, "wait up to this long for GET /healthz to answer 200 first")
	timeout := fs.Duration("timeout", 0, "answer timeout per message (default: the scenario's, else 5s)")
	echoEvery := fs.Duration("echo-interval", 30*time.Second, "send an 0800 echo after this long without traffic (0: never)")
	verbose := fs.Bool("v", false, "print each step as it is played")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))
	}
	if !*provisionDemo && *scenarioPath == "" && !*mix {
		return errors.New("sim: give --scenario FILE, --mix or --provision-demo")
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "sim: "+format+"\n", a...) }

	m := NewMgmt(LeaderHTTP(*httpAddr, 2*time.Second))
	if *wait > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), *wait)
		err := m.WaitHealthy(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	var keys *Keys
	if *cfgPath != "" || *dataDir != "" {
		var err error
		if keys, err = LoadKeys(*cfgPath, *dataDir); err != nil {
			return err
		}
	}

	var sc *Scenario
	setup := DemoSetup
	switch {
	case *scenarioPath != "":
		var err error
		if sc, err = LoadScenario(*scenarioPath); err != nil {
			return err
		}
		setup = sc.Setup
	case *mix:
		setup.Balances = append([]BalanceSpec(nil), DemoSetup.Balances...)
		setup.Balances[0].Reload = *reload
	}

	var world *World
	if *cardsIn != "" {
		var err error
		if world, err = LoadWorld(*cardsIn); err != nil {
			return err
		}
	} else {
		var err error
		if world, err = Provision(m, setup, logf); err != nil {
			return err
		}
	}
	if *cardsOut != "" {
		if err := SaveWorld(*cardsOut, world); err != nil {
			return err
		}
		logf("cards written to %s (clear card data, development only)", *cardsOut)
	}
	if *provisionDemo {
		for _, ref := range sortedKeys(world.Cards) {
			c := world.Cards[ref]
			fmt.Fprintf(stdout, "card %s: id %s program %s pan %s expiry %s psn %s\n", ref, c.CardID, c.Program,
				maskPAN(c.PAN), c.ExpiryYYMM, c.PSN)
		}
		return nil
	}

	conn, err := DialList(*addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	b := NewBuilder(keys, DefaultTerminal)
	r := &Runner{Conn: conn, Builder: b, Mgmt: m, World: world, Timeout: *timeout}
	if *verbose {
		r.Logf = logf
	}
	if r.Timeout == 0 {
		r.Timeout = 5 * time.Second
		if sc != nil {
			r.Timeout = sc.Timeout
		}
	}
	resp, _, err := r.send(b.Network("001"))
	if err != nil {
		return fmt.Errorf("sim: sign-on: %w", err)
	}
	if resp.ResponseCode != "00" {
		return fmt.Errorf("sim: sign-on answered %s", resp.ResponseCode)
	}
	stop := make(chan struct{})
	go r.idleEcho(*echoEvery, stop)

	var rep *Report
	if sc != nil {
		rep = r.RunScenario(sc)
	} else {
		s := *seed
		if s == 0 {
			s = uint64(time.Now().UnixNano())
		}
		chip := keys != nil
		if !chip {
			logf("no --config/--data-dir: chip, contactless, magnetic-stripe and PIN traffic left out of the mix")
		}
		rep = r.RunMix(MixOptions{Count: *count, Seed: s, Chip: chip})
	}
	close(stop)
	if resp, _, err := r.send(b.Network("002")); err != nil || resp.ResponseCode != "00" {
		logf("sign-off not answered 00 (%v)", err)
	}

	if sc != nil {
		rep.PrintSteps(stdout)
	} else {
		rep.PrintByKind(stdout)
	}
	rep.PrintSummary(stdout)
	if !rep.OK() {
		return fmt.Errorf("%w: %d of %d steps", ErrMismatch, rep.Totals().Mismatched, len(rep.Steps))
	}
	return nil
}

// ClientMain is `cardswitch client`: send one message and print the answer's fields.
func ClientMain(args []string) error { return runClient(args, os.Stdout, os.Stderr) }

func runClient(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: cardswitch client <message> [flags]

messages: echo signon signoff auth (purchase) sale cash refund balance advice completion reverse reversal-advice

`)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8583", "switch ISO 8583 listener HOST:PORT, or a group's members' as a comma-separated list (the first that accepts: the leader)")
	pan := fs.String("pan", "", "card PAN (field 2)")
	cardsFile := fs.String("cards", "", "cards file written by sim --cards-out (use with --card)")
	cardRef := fs.String("card", "", "card ref in --cards (mc, visa): PAN, expiry, CVC2, PIN from the file")
	amount := fs.String("amount", "", "amount in major units, e.g. 10.00 (field 4); reverse: the new amount (partial, field 95)")
	currency := fs.String("currency", "978", "currency, numeric (978) or alpha (EUR) (field 49)")
	expiry := fs.String("expiry", "", "expiry YYMM (field 14)")
	cvc2 := fs.String("cvc2", "", "CVC2 (field 48 subelement 92)")
	pin := fs.String("pin", "", "PIN (field 52, needs --config or --data-dir for the ZPK)")
	psn := fs.String("psn", "00", "PAN sequence number (chip)")
	entry := fs.String("entry", "", "entry mode: ecommerce, manual, chip, contactless, magstripe (chip and track 2 need the keys)")
	cfgPath := fs.String("config", "", "the switch's config file (keys)")
	dataDir := fs.String("data-dir", "", "the switch's data directory (development keys)")
	origMTI := fs.String("orig-mti", "0100", "completion/reverse: original MTI")
	origSTAN := fs.String("stan", "", "completion/reverse: original STAN (field 11)")
	origF7 := fs.String("f7", "", "completion/reverse: original transmission date-time MMDDhhmmss")
	origAmount := fs.String("orig-amount", "", "completion/reverse: original amount (field 4); default --amount")
	acquirer := fs.String("acquirer", DefaultTerminal.AcquirerID, "acquiring institution ID (field 32)")
	timeout := fs.Duration("timeout", 5*time.Second, "answer timeout")
	expect := fs.String("expect", "", "exit non-zero unless field 39 is this value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("client: message kind missing")
	}
	kind := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("client: unexpected argument %q", fs.Arg(0))
	}
	switch kind {
	case "auth", "authorization":
		kind = KindPurchase
	case "reverse":
		kind = KindReversal
	case "sign-on":
		kind = KindSignOn
	case "sign-off":
		kind = KindSignOff
	}

	var keys *Keys
	if *cfgPath != "" || *dataDir != "" {
		var err error
		if keys, err = LoadKeys(*cfgPath, *dataDir); err != nil {
			return err
		}
	}
	card := &Card{PAN: *pan, ExpiryYYMM: *expiry, CVC2: *cvc2, PIN: *pin, PSN: *psn}
	if *cardsFile != "" {
		w, err := LoadWorld(*cardsFile)
		if err != nil {
			return err
		}
		c := w.Cards[*cardRef]
		if c == nil {
			return fmt.Errorf("client: no card %q in %s", *cardRef, *cardsFile)
		}
		card = c
		card.atc = uint16(time.Now().Unix()/60) | 0x8000 // fresh across runs; see docs/simulator.md
		if *pan != "" {
			card.PAN = *pan
		}
		if *expiry != "" {
			card.ExpiryYYMM = *expiry
		}
		if *cvc2 != "" {
			card.CVC2 = *cvc2
		}
		if *pin != "" {
			card.PIN = *pin
		}
	} else {
		card.atc = uint16(time.Now().Unix()/60) | 0x8000
	}
	cur := *currency
	if len(cur) == 3 && (cur[0] < '0' || cur[0] > '9') {
		cur = currencyNumeric(cur)
	}
	card.CurrencyNum = cur

	b := NewBuilder(keys, DefaultTerminal)
	b.Terminal.AcquirerID = *acquirer
	spec := Spec{Kind: kind, Card: card, Entry: *entry, CurrencyNum: cur}
	if *cvc2 == "" && *cardsFile == "" {
		spec.CVC2 = "none"
	}
	if *pin == "" && *cardsFile == "" {
		spec.PIN = "none"
		if kind == KindCash {
			return errors.New("client: cash needs --pin")
		}
	}
	if *expiry == "" && *cardsFile == "" {
		spec.Expiry = "none"
	}
	if *amount != "" {
		v, err := ParseAmount(*amount, cur)
		if err != nil {
			return fmt.Errorf("client: --amount: %w", err)
		}
		spec.AmountMinor = v
	}
	switch kind {
	case KindCompletion, KindReversal, KindReversalAdvice:
		if *origSTAN == "" || *origF7 == "" {
			return errors.New("client: completion/reverse need --stan and --f7 of the original")
		}
		oa := *origAmount
		if oa == "" {
			oa = *amount
		}
		ov, err := ParseAmount(oa, cur)
		if err != nil {
			return fmt.Errorf("client: --orig-amount: %w", err)
		}
		spec.Original = &authz.Request{MTI: *origMTI, STAN: *origSTAN, F7: *origF7, AcquirerID: *acquirer,
			PAN: card.PAN, ProcessingCode: "000000", AmountMinor: ov, HasAmount: true, CurrencyNum: cur,
			TerminalID: DefaultTerminal.TerminalID, MerchantID: DefaultTerminal.MerchantID, MerchantName: DefaultTerminal.MerchantName}
		if kind != KindCompletion {
			if *origAmount != "" && *amount != "" {
				spec.ReplacementMinor, spec.HasReplacement = spec.AmountMinor, true
			}
			spec.AmountMinor = 0
		}
	}
	req, err := b.Build(spec)
	if err != nil {
		return err
	}
	conn, err := DialList(*addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, lat, err := conn.RoundTrip(req, *timeout)
	fmt.Fprintf(stdout, "sent     %s stan %s f7 %s", mtiOf(req), req.STAN, req.F7)
	if req.PAN != "" {
		fmt.Fprintf(stdout, " pan %s", maskPAN(req.PAN))
	}
	if req.HasAmount {
		fmt.Fprintf(stdout, " amount %s", FormatAmount(req.AmountMinor, exponentOfNumeric(req.CurrencyNum)))
	}
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	PrintResponse(stdout, resp, lat)
	if *expect != "" && resp.ResponseCode != *expect {
		return fmt.Errorf("client: field 39 %s, want %s", resp.ResponseCode, *expect)
	}
	return nil
}

func exponentOfNumeric(num string) int {
	if c, ok := ledger.CurrencyByNumeric(num); ok {
		return c.Exponent
	}
	return 2
}

// PrintResponse writes an answer's fields: MTI, 39 and its meaning, 38, 54 parsed, 55, the
// echoed key fields.
func PrintResponse(w io.Writer, m *codec.ResponseMessage, latency time.Duration) {
	fmt.Fprintf(w, "answer   %s in %s\n", m.MTI, latency.Round(time.Microsecond))
	fmt.Fprintf(w, "39       %s %s\n", dash(m.ResponseCode), meaning39(m.ResponseCode))
	if m.AuthCode != "" {
		fmt.Fprintf(w, "38       %s\n", m.AuthCode)
	}
	if m.HasBalance {
		exp := exponentOfNumeric(m.BalanceCurrencyNum)
		alpha := m.BalanceCurrencyNum
		if c, ok := ledger.CurrencyByNumeric(m.BalanceCurrencyNum); ok {
			alpha = c.Alpha
		}
		fmt.Fprintf(w, "54       available %s %s\n", FormatAmount(m.AvailableMinor, exp), alpha)
	}
	if len(m.ICC) > 0 {
		fmt.Fprintf(w, "55       %X\n", m.ICC)
	}
	fmt.Fprintf(w, "11       %s\n", dash(m.STAN))
	fmt.Fprintf(w, "7        %s\n", dash(m.F7))
	if m.NetworkCode != "" {
		fmt.Fprintf(w, "70       %s\n", m.NetworkCode)
	}
	if m.Original != nil {
		fmt.Fprintf(w, "90       %s %s %s %s\n", m.Original.MTI, m.Original.STAN, m.Original.F7, m.Original.AcquirerID)
	}
}
