package loyalty

import (
	"context"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty/mrswire"
)

// Replacement, opt-out and purge (seed §6.3, §6.4).

// cancelAtHost sets the account CANCELLED at the host; -10 (it is cancelled already: a retry
// after a lost answer) counts as done. It returns the code to report when it did not succeed.
func (s *Service) cancelAtHost(ctx context.Context, ranac string) (code string, ok bool) {
	resp, err := s.host.Call(ctx, mrswire.OpUpdateCustomerAccount, []mrswire.Field{{Name: "ranac", Value: ranac},
		{Name: "accountStatusCode", Value: mrswire.AccountCancelled}})
	if err != nil {
		return hostCode(err), false
	}
	if resp.StatusCode != mrswire.StatusSuccess && resp.StatusCode != mrswire.StatusInvalidAccountStatus {
		return resp.StatusCode, false
	}
	return resp.StatusCode, true
}

func (s *Service) customerMember(customerID, cardID string) (ledger.LoyaltyMember, bool) {
	m, ok := s.eng.State().LoyaltyMember(cardID)
	return m, ok && m.CustomerID == customerID
}

// replace enrolls the new card first; only once it is enrolled is the old one cancelled at the
// host and then in the ledger (its points move to the new card). A failed enrollment keeps the
// old card as it was. When the host does not confirm the old card's cancellation, both cards
// stay enrolled and the replacement is reported failed with the host's code (and the new RANAC).
func (s *Service) replace(ctx context.Context, ses *session, in *enrollInput) Result {
	w := &ses.website
	old, ok := s.customerMember(ses.customerID, in.CardID)
	if !ok || old.Status != ledger.LoyaltyEnrolled {
		return s.failed(StatusFailedReplacement, w.Subject, "", "the card to replace is not an enrolled card of the customer")
	}
	pan, ok := s.openPAN(in.PAN)
	if !ok {
		return s.failed(StatusFailedReplacement, w.Subject, "", "card number envelope")
	}
	r, nm := s.enrollCard(ctx, ses, pan, "", "", "", StatusSuccessReplacement, StatusFailedReplacement, false)
	if r.Status != StatusSuccessReplacement {
		return r
	}
	if nm.CardID == old.CardID {
		return s.failed(StatusFailedReplacement, w.Subject, "", "the new card is the old card")
	}
	if code, ok := s.cancelAtHost(ctx, old.RANAC); !ok {
		f := s.failed(StatusFailedReplacement, w.Subject, code, "the host did not cancel the old card")
		f.RANAC, f.BIN, f.Last4 = r.RANAC, r.BIN, r.Last4
		return f
	}
	if _, refusal, err := do(s, withConfirmation[ledger.LoyaltyMember](ledger.ReplaceLoyalty{OldCardID: old.CardID, NewCardID: nm.CardID},
		w.ConfirmationURL, r)); err != nil || refusal != nil {
		return s.failed(StatusFailedReplacement, w.Subject, "", "ledger replacement")
	}
	return r
}

// optOut cancels the card at the host and puts it in its grace period in the ledger.
func (s *Service) optOut(ctx context.Context, ses *session, cardID string) Result {
	w := &ses.website
	m, ok := s.customerMember(ses.customerID, cardID)
	if !ok || m.Status != ledger.LoyaltyEnrolled {
		return s.failed(StatusFailedOptOut, w.Subject, "", "the card is not an enrolled card of the customer")
	}
	code, ok := s.cancelAtHost(ctx, m.RANAC)
	if !ok {
		return s.failed(StatusFailedOptOut, w.Subject, code, "the host did not cancel the card")
	}
	bin := ""
	if c, ok := s.eng.State().Card(m.CardID); ok && len(c.PAN) >= 6 {
		bin = c.PAN[:6]
	}
	r := Result{Status: StatusSuccessOptOut, StatusCode: mrswire.StatusSuccess, ParentID: w.Subject, RANAC: m.RANAC,
		DesignCode: designCode, BIN: bin, Last4: m.Last4}
	if _, refusal, err := do(s, withConfirmation[ledger.LoyaltyMember](ledger.OptOutLoyalty{CardID: m.CardID, CustomerID: ses.customerID},
		w.ConfirmationURL, r)); err != nil || refusal != nil {
		return s.failed(StatusFailedOptOut, w.Subject, "", "ledger opt-out")
	}
	return r
}

// Purge limits.
const (
	// PurgeInterval is how often the purge job looks for members past their grace period.
	PurgeInterval = time.Minute
	// PurgeBatchMax bounds the members one purge batch removes; the rest wait for the next run.
	PurgeBatchMax = 500
)

// PurgeDue removes the members whose opt-out or replacement is older than the grace period at
// now (the job's clock; tests pass their own). The state it reads is durable, so a purge a crash
// interrupted is done by the next run.
func (s *Service) PurgeDue(now time.Time) ([]ledger.Purged, error) {
	var all []ledger.Purged
	for {
		got, _, err := do(s, purgeAt{PurgeLoyalty: ledger.PurgeLoyalty{GraceNanos: int64(s.cfg.GracePeriod), Max: PurgeBatchMax}, now: now})
		if err != nil {
			return all, err
		}
		all = append(all, got...)
		if len(got) < PurgeBatchMax {
			return all, nil
		}
	}
}

// purgeAt runs the purge as of now rather than the engine's clock (the injected clock of the
// grace period).
type purgeAt struct {
	ledger.PurgeLoyalty
	now time.Time
}

func (p purgeAt) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[[]ledger.Purged] {
	e := *env
	if p.now.After(e.Now) {
		e.Now = p.now
	}
	return p.PurgeLoyalty.Apply(tx, &e)
}

// Run is the purge job (every PurgeInterval) and the confirmation delivery (every
// DeliverInterval) until ctx ends. Its owner (app) cancels ctx and
// waits for it to return.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	d := time.NewTicker(DeliverInterval)
	defer d.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.C:
			s.DeliverDue(s.clock())
		case <-t.C:
			if purged, err := s.PurgeDue(s.clock()); err != nil {
				s.log.Warn("loyalty purge not run", "err", err)
			} else if len(purged) > 0 {
				s.log.Info("loyalty members purged after their grace period", "members", len(purged))
			}
		}
	}
}
