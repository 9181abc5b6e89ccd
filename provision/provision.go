// Package provision creates customers, balances and cards in bulk, for load tests and
// demonstrations, through the same engine and journal as the running switch: every row is made by
// the ledger's own commands (CreateCustomer, SetKYC, CreateBalance, Reload, IssueCard) inside
// engine ops, and made durable by the engine's journal write before it counts.
//
// Cards are deterministic, so a load generator can recompute them without a file of PANs: card i
// belongs to program i mod P (P programs, in configuration order) and its PAN is that program's
// BIN, the index zero-padded to fill the PAN, and the Luhn check digit. Its expiry is fixed
// (DefaultExpiry unless told), and the token vault gives it its CVC2 (the CVV of PAN, expiry and
// "000" under the program's CVK) and its PVV (of the PIN, DefaultPIN unless told, under the
// program's PVK), exactly as it does for a card issued through the API.
//
// Provisioning is idempotent: a card whose PAN is already issued is skipped, so an interrupted run
// is finished by running it again. It opens the Badger store exclusively: the switch must be
// stopped while it runs.
package provision

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Defaults shared with the bench, which recomputes what provisioning made.
const (
	DefaultExpiry     = "3012" // YYMM: December 2030
	DefaultPIN        = "1234"
	DefaultFund       = "1000000.00" // major units per balance: enough for long hot-card runs
	DefaultBatchCards = 500          // cards (with their customer and balance) per engine op
	// opsInFlightMax bounds the ops queued at once: the engine may merge queued ops into one
	// journal transaction, and Badger refuses a transaction beyond ~15% of its memtable.
	opsInFlightMax = 2
	idPrefix       = "prov"
)

// Program is what provisioning and the bench need of a card program.
type Program struct {
	Name      string
	BIN       string
	PANLength int
	Currency  ledger.Currency
	CVK, PVK  []byte
	PVKI      int
	IMKAC     []byte
}

// Programs turns the configuration's card programs into Programs (keys decoded). A program that
// a Pay by Account institution names is left out: its BIN range holds that institution's token
// PANs, not cards (config/pba.go), and a card provisioned there is answered 14, so a third of
// the bench's traffic was declined once the development profile gained one (docs/benchmarks-log.md,
// Round 10).
func Programs(cfg *config.Config) ([]Program, error) {
	tokenOnly := map[string]bool{}
	for _, in := range cfg.PBA.Institutions {
		tokenOnly[in.Program] = true
	}
	out := make([]Program, 0, len(cfg.Programs))
	for _, p := range cfg.Programs {
		if tokenOnly[p.Name] {
			continue
		}
		cur, ok := ledger.CurrencyByAlpha(p.Currency)
		if !ok {
			return nil, fmt.Errorf("provision: program %s: unknown currency", p.Name)
		}
		out = append(out, Program{Name: p.Name, BIN: p.BIN, PANLength: p.PANLength, Currency: cur,
			CVK: config.Key(p.Keys.CVK), PVK: config.Key(p.Keys.PVK), PVKI: p.Keys.PVKI, IMKAC: config.Key(p.Keys.IMKAC)})
	}
	return out, nil
}

// PAN is card index i of the program: BIN, i zero-padded, Luhn digit.
func PAN(p *Program, i int) string {
	width := p.PANLength - len(p.BIN) - 1
	s := strconv.Itoa(i)
	if len(s) > width {
		panic("provision: card index does not fit the PAN")
	}
	payload := p.BIN + strings.Repeat("0", width-len(s)) + s
	d, err := cardcrypto.LuhnCheckDigit(payload)
	if err != nil {
		panic("provision: bad BIN: " + err.Error())
	}
	return payload + string(d)
}

// ProgramOf is the program of card i.
func ProgramOf(progs []Program, i int) *Program { return &progs[i%len(progs)] }

// Options of a provisioning run.
type Options struct {
	Cards      int    // cards to have, indexes [Start, Start+Cards)
	Start      int    // first index
	FundMinor  int64  // reload of each new balance, minor units
	Expiry     string // YYMM
	PIN        string
	BatchCards int // cards per engine op
	Log        io.Writer
}

// Result of a run.
type Result struct {
	Created, Skipped int
	Elapsed          time.Duration
}

// Rate is cards handled per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Created+r.Skipped) / r.Elapsed.Seconds()
}

// ErrLocked says the store is in use by another process (a running switch).
var ErrLocked = errors.New("provision: the data directory is in use: stop `cardswitch serve` first")

// Main is `cardswitch provision`.
func Main(args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (default: development profile)")
	dataDir := fs.String("data-dir", "", "data directory (default ./var)")
	cards := fs.Int("cards", 1000, "number of cards (each with its own customer and balance)")
	start := fs.Int("start", 0, "first card index")
	fund := fs.String("fund", DefaultFund, "amount loaded on each new balance, major units")
	expiry := fs.String("expiry", DefaultExpiry, "card expiry YYMM")
	pin := fs.String("pin", DefaultPIN, "PIN of every card (4 digits)")
	batch := fs.Int("batch", DefaultBatchCards, "cards per engine op")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to FILE (diagnosis)")
	memProfile := fs.String("memprofile", "", "write a heap profile to FILE at the end, before closing (diagnosis)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	heapProfile = *memProfile
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := config.Load(*cfgPath, config.Overrides{DataDir: *dataDir}, func(msg string) { log.Warn(msg) })
	if err != nil {
		return err
	}
	amt, err := decimal.NewFromString(*fund)
	if err != nil || amt.Sign() <= 0 {
		return fmt.Errorf("provision: --fund: want a positive amount")
	}
	o := Options{Cards: *cards, Start: *start, Expiry: *expiry, PIN: *pin, BatchCards: *batch, Log: os.Stdout}
	// Every program of one run shares the fund amount in its own currency's minor units; the
	// exponent is taken per program below.
	res, err := RunConfig(context.Background(), cfg, o, amt, log)
	if err != nil {
		return err
	}
	fmt.Printf("provisioned %d cards (%d created, %d already present) in %s: %.0f cards/s\n",
		res.Created+res.Skipped, res.Created, res.Skipped, res.Elapsed.Round(time.Millisecond), res.Rate())
	return nil
}

// RunConfig opens the data directory of cfg exactly as `serve` does and provisions into it.
func RunConfig(ctx context.Context, cfg *config.Config, o Options, fund decimal.Decimal, log *slog.Logger) (Result, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return Result{}, fmt.Errorf("provision: data directory: %w", err)
	}
	keyID, keys := cfg.DataKeys()
	old := map[byte][]byte{}
	for id, k := range keys {
		if id != keyID {
			old[id] = k
		}
	}
	dir := filepath.Join(cfg.DataDir, "ledger")
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: keys[keyID], DataKeyID: keyID, OldDataKeys: old, Logger: log,
		CompactionPace: -1}) // a bulk load: nothing to keep responsive
	if err != nil {
		if strings.Contains(err.Error(), "directory lock") {
			return Result{}, fmt.Errorf("%w (%s): %v", ErrLocked, dir, err)
		}
		return Result{}, err
	}
	defer j.Close()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		return Result{}, err
	}
	progs, err := Programs(cfg)
	if err != nil {
		return Result{}, err
	}
	fundMinor := map[string]int64{}
	for _, p := range progs {
		fundMinor[p.Name] = fund.Shift(int32(p.Currency.Exponent)).IntPart()
	}
	lookupKey, err := tokenvault.LookupKey(cfg.DataDir, keyID, keys)
	if err != nil {
		return Result{}, err
	}
	env := ledger.Env{PANHasher: tokenvault.HasherWithKey(lookupKey)}
	eng := engine.New(engine.Config{QueueDepth: 64, MaxBatch: opsInFlightMax}, st, j, env, time.Now, log, nil)
	eng.Start()
	defer eng.Stop(context.Background())
	res, err := Run(ctx, eng, progs, env.PANHasher, fundMinor, o)
	if heapProfile != "" {
		runtime.GC()
		if f, ferr := os.Create(heapProfile); ferr == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	return res, err
}

// heapProfile is set by --memprofile.
var heapProfile string

// batchResult is what one op reports.
type batchResult struct {
	created, skipped int
	refusal          *ledger.Refusal
}

// prepared is one card's data, computed off the engine goroutine.
type prepared struct {
	idx  int
	prog *Program
	card tokenvault.Issued
}

// vaultOf is the token vault that issues the programs' cards; hasher is the store's PAN hash.
func vaultOf(progs []Program, hasher func(string) string) (*tokenvault.Vault, error) {
	vp := make([]tokenvault.Program, 0, len(progs))
	for _, p := range progs {
		vp = append(vp, tokenvault.Program{Name: p.Name, BIN: p.BIN, PANLength: p.PANLength,
			CVK: p.CVK, PVK: p.PVK, PVKI: p.PVKI})
	}
	return tokenvault.New(tokenvault.Config{Programs: vp, Hash: hasher})
}

// Run provisions through a running engine. fundMinor is per program name.
func Run(ctx context.Context, eng *engine.Engine, progs []Program, hasher func(string) string,
	fundMinor map[string]int64, o Options) (Result, error) {
	if o.BatchCards <= 0 {
		o.BatchCards = DefaultBatchCards
	}
	if o.Expiry == "" {
		o.Expiry = DefaultExpiry
	}
	if o.PIN == "" {
		o.PIN = DefaultPIN
	}
	if o.Cards < 0 || o.Start < 0 || len(progs) == 0 {
		return Result{}, errors.New("provision: nothing to do")
	}
	vault, err := vaultOf(progs, hasher)
	if err != nil {
		return Result{}, fmt.Errorf("provision: %w", err)
	}
	began := time.Now()
	var (
		res      Result
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, opsInFlightMax)
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	lastReport := time.Now()
	end := o.Start + o.Cards
	for lo := o.Start; lo < end; lo += o.BatchCards {
		hi := min(lo+o.BatchCards, end)
		batch, err := prepare(vault, progs, lo, hi, o)
		if err != nil {
			return res, err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		}
		mu.Lock()
		stop := firstErr
		mu.Unlock()
		if stop != nil {
			break
		}
		wg.Add(1)
		err = submit(eng, batch, fundMinor, func(r batchResult, err error) {
			defer wg.Done()
			defer func() { <-slots }()
			switch {
			case err != nil:
				fail(err)
			case r.refusal != nil:
				fail(fmt.Errorf("provision: %w", r.refusal))
			default:
				mu.Lock()
				res.Created += r.created
				res.Skipped += r.skipped
				mu.Unlock()
			}
		})
		if err != nil {
			wg.Done()
			<-slots
			if errors.Is(err, engine.ErrQueueFull) { // cannot happen with opsInFlightMax < depth
				return res, err
			}
			return res, err
		}
		if o.Log != nil && time.Since(lastReport) >= 2*time.Second {
			lastReport = time.Now()
			mu.Lock()
			done := res.Created + res.Skipped
			mu.Unlock()
			fmt.Fprintf(o.Log, "  %d/%d cards, %.0f cards/s\n", done, o.Cards, float64(done)/time.Since(began).Seconds())
		}
	}
	wg.Wait()
	res.Elapsed = time.Since(began)
	return res, firstErr
}

func prepare(vault *tokenvault.Vault, progs []Program, lo, hi int, o Options) ([]prepared, error) {
	out := make([]prepared, hi-lo)
	// Key derivations and hashes are the expensive part: spread them over the CPUs.
	const parts = 4
	var wg sync.WaitGroup
	errs := make([]error, parts)
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for k := p; k < len(out); k += parts {
				i := lo + k
				prog := ProgramOf(progs, i)
				// No index: whether the card exists is asked inside the op, where a card already
				// there is skipped (a re-run) rather than drawn again.
				c, err := vault.Issue(tokenvault.IssueRequest{Program: prog.Name, PAN: tokenvault.PAN(PAN(prog, i)),
					ExpiryYYMM: o.Expiry, PIN: tokenvault.PIN(o.PIN)}, nil)
				if err != nil {
					errs[p] = fmt.Errorf("provision: card %d: %w", i, err)
					return
				}
				out[k] = prepared{idx: i, prog: prog, card: c}
			}
		}(p)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// IDs of provisioned rows: deterministic, so a re-run finds what an earlier run made.
func customerID(i int) string { return fmt.Sprintf("%s-cus-%09d", idPrefix, i) }
func balanceID(i int) string  { return fmt.Sprintf("%s-bal-%09d", idPrefix, i) }
func cardID(i int) string     { return fmt.Sprintf("%s-crd-%09d", idPrefix, i) }

// BalanceID is the balance of card i (for tests and audits).
func BalanceID(i int) string { return balanceID(i) }

func submit(eng *engine.Engine, batch []prepared, fundMinor map[string]int64, done func(batchResult, error)) error {
	items := make([]ledger.ProvisionItem, len(batch))
	for k := range batch {
		c := &batch[k]
		cid, bid := customerID(c.idx), balanceID(c.idx)
		v := &c.card // drawn by the token vault
		items[k] = ledger.ProvisionItem{
			Customer:  ledger.Customer{ID: cid, ExternalID: cid, FirstName: "Load", LastName: "Test " + strconv.Itoa(c.idx)},
			Balance:   ledger.Balance{ID: bid, CustomerID: cid, Currency: c.prog.Currency.Alpha},
			FundMinor: fundMinor[c.prog.Name],
			Card: ledger.Card{ID: cardID(c.idx), BalanceID: bid, Program: c.prog.Name,
				Type: ledger.CardVirtual, PANHash: v.PANHash, PAN: v.PAN.Reveal(), Last4: v.PAN.Last4(),
				ExpiryYYMM: v.ExpiryYYMM, PSN: v.PSN, CVC2: v.CVC2.Reveal(), PVV: v.PVV.Reveal()},
		}
	}
	return engine.Submit(eng, ledger.Provision{Items: items}, func(r ledger.ProvisionResult, err error) {
		done(batchResult{created: r.Created, skipped: r.Skipped, refusal: r.Refusal}, err)
	})
}
