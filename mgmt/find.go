package mgmt

import (
	"regexp"
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
)

// Operators find and list customers, cards and user balances (seed "Administrator and Customer
// Service" channel): GET /admin/customers, /admin/cards and /admin/balances with filters and
// cursor paging (docs/cards-channels.md).
//
// Paging: limit (1..200, default 50) items per page, oldest first; an answer that has more to
// give carries nextCursor, which the next request sends as cursor. A cursor is the id of the
// last row the page looked at: it stays valid while the process runs (after a restart rows may
// come back in another order, so a cursor can then skip or repeat rows; one that names no row is
// refused with 400 INVALID_CURSOR).
//
// Cost: a page reads rows until it has limit matches or has read findRowsMax rows; in the second
// case it answers the matches so far with nextCursor, so a filter that matches little never holds
// a request for the whole table (the client follows nextCursor until there is none). The ledger
// reads rows in chunks under its read lock (ledger.State.ScanCards), never holding commits up for
// a whole page.

// findRowsMax bounds the rows one page reads.
const findRowsMax = 100_000

var (
	reFindState = regexp.MustCompile(`^[A-Z_]{1,32}$`)
	reLast4     = regexp.MustCompile(`^[0-9]{4}$`)
)

// page is the paging of a find request.
type page struct {
	limit  int
	cursor string
}

func pageOf(c *call, exists func(id string) bool) (page, *apiError) {
	limit, err := pageLimit(c)
	if err != nil {
		return page{}, err
	}
	cur := c.query("cursor")
	if cur != "" && !exists(cur) {
		return page{}, errBad("INVALID_CURSOR", "cursor is not one this API gave", "cursor")
	}
	return page{limit: limit, cursor: cur}, nil
}

// answer is a page's body: the items and, when the scan stopped before the table's end, the
// cursor to go on from.
func (p page) answer(items any, last string, end bool) map[string]any {
	out := map[string]any{"items": items}
	if !end && last != "" {
		out["nextCursor"] = last
	}
	return out
}

// ownerFilter is a filter on the customer a card or balance belongs to: by id, external id or
// e-mail; any is false when none is given.
type ownerFilter struct {
	any bool
	ids map[string]bool
}

func (s *Server) ownerFilterOf(c *call) (ownerFilter, *apiError) {
	id, ext, email := c.query("customerId"), c.query("externalId"), c.query("email")
	if id == "" && ext == "" && email == "" {
		return ownerFilter{}, nil
	}
	if ext != "" && !reExtID.MatchString(ext) {
		return ownerFilter{}, errInvalid("externalId", "externalId: 1-64 letters, digits or ._:-")
	}
	f := ownerFilter{any: true, ids: map[string]bool{}}
	st := s.eng.State()
	switch {
	case email != "":
		// An e-mail is not indexed: the customers are read through once (in chunks).
		st.ScanCustomers("", int(^uint(0)>>1), func(cu *ledger.Customer) bool {
			if strings.EqualFold(cu.Email, email) && (id == "" || cu.ID == id) && (ext == "" || cu.ExternalID == ext) {
				f.ids[cu.ID] = true
			}
			return true
		})
	case ext != "":
		if cid, ok := st.CustomerIDByExternal(ext); ok && (id == "" || cid == id) {
			f.ids[cid] = true
		}
	default:
		f.ids[id] = true
	}
	return f, nil
}

func (f ownerFilter) match(customerID string) bool { return !f.any || f.ids[customerID] }

func stateFilter(c *call, allowed ...string) (string, *apiError) {
	v := c.query("state")
	if v == "" {
		return "", nil
	}
	if len(allowed) == 0 {
		if !reFindState.MatchString(v) {
			return "", errInvalid("state", "state: upper-case letters and _")
		}
		return v, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", errInvalid("state", "state must be one of "+strings.Join(allowed, ", "))
}

func (s *Server) hFindCustomers(c *call) (int, any, *apiError) {
	st := s.eng.State()
	p, err := pageOf(c, func(id string) bool { _, ok := st.Customer(id); return ok })
	if err != nil {
		return 0, nil, err
	}
	ext, email, kyc := c.query("externalId"), c.query("email"), c.query("kycStatus")
	if ext != "" && !reExtID.MatchString(ext) {
		return 0, nil, errInvalid("externalId", "externalId: 1-64 letters, digits or ._:-")
	}
	if kyc != "" && !reFindState.MatchString(kyc) {
		return 0, nil, errInvalid("kycStatus", "kycStatus: upper-case letters and _")
	}
	items := []customerView{}
	if ext != "" && email == "" && kyc == "" && p.cursor == "" {
		// The external id is indexed: at most one customer, no scan.
		if id, ok := st.CustomerIDByExternal(ext); ok {
			if cu, ok := st.Customer(id); ok {
				items = append(items, viewCustomer(cu))
			}
		}
		return 200, p.answer(items, "", true), nil
	}
	last, end := st.ScanCustomers(p.cursor, findRowsMax, func(cu *ledger.Customer) bool {
		if (ext == "" || cu.ExternalID == ext) && (email == "" || strings.EqualFold(cu.Email, email)) &&
			(kyc == "" || cu.KYC == kyc) {
			items = append(items, viewCustomer(*cu))
		}
		return len(items) < p.limit
	})
	return 200, p.answer(items, last, end), nil
}

func (s *Server) hFindCards(c *call) (int, any, *apiError) {
	st := s.eng.State()
	p, err := pageOf(c, func(id string) bool { _, ok := st.Card(id); return ok })
	if err != nil {
		return 0, nil, err
	}
	owner, err := s.ownerFilterOf(c)
	if err != nil {
		return 0, nil, err
	}
	state, err := stateFilter(c, string(ledger.CardActive), string(ledger.CardInactive), string(ledger.CardLocked), string(ledger.CardRemoved))
	if err != nil {
		return 0, nil, err
	}
	last4, typ, bal := c.query("last4"), c.query("type"), c.query("balanceId")
	if last4 != "" && !reLast4.MatchString(last4) {
		return 0, nil, errInvalid("last4", "last4: four digits")
	}
	switch typ {
	case "", ledger.CardVirtual, ledger.CardPhysical, ledger.CardDigitalFirst:
	default:
		return 0, nil, errInvalid("type", "type must be VIRTUAL, PHYSICAL or DIGITAL_FIRST")
	}
	items := []cardView{}
	if owner.any && len(owner.ids) == 0 {
		return 200, p.answer(items, "", true), nil
	}
	last, end := st.ScanCards(p.cursor, findRowsMax, func(cd *ledger.Card) bool {
		if owner.match(cd.CustomerID) && (state == "" || string(cd.State) == state) && (last4 == "" || cd.Last4 == last4) &&
			(typ == "" || cd.Type == typ) && (bal == "" || cd.BalanceID == bal) {
			items = append(items, viewCard(*cd))
		}
		return len(items) < p.limit
	})
	return 200, p.answer(items, last, end), nil
}

func (s *Server) hFindBalances(c *call) (int, any, *apiError) {
	st := s.eng.State()
	p, err := pageOf(c, func(id string) bool { _, ok := st.Balance(id); return ok })
	if err != nil {
		return 0, nil, err
	}
	owner, err := s.ownerFilterOf(c)
	if err != nil {
		return 0, nil, err
	}
	state, err := stateFilter(c)
	if err != nil {
		return 0, nil, err
	}
	cur := c.query("currency")
	if cur != "" && !reCurrency.MatchString(cur) {
		return 0, nil, errInvalid("currency", "currency: an ISO 4217 alpha-3 code such as EUR")
	}
	items := []balanceView{}
	if owner.any && len(owner.ids) == 0 {
		return 200, p.answer(items, "", true), nil
	}
	var found []ledger.Balance
	last, end := st.ScanBalances(p.cursor, findRowsMax, func(b *ledger.Balance) bool {
		if b.Kind == ledger.BalanceUser && owner.match(b.CustomerID) && (state == "" || string(b.State) == state) &&
			(cur == "" || b.Currency == cur) {
			found = append(found, *b)
		}
		return len(found) < p.limit
	})
	// The card ids are read after the scan, outside its hold of the read lock.
	for _, b := range found {
		items = append(items, viewBalance(b, s.cardIDsOf(b.ID)))
	}
	return 200, p.answer(items, last, end), nil
}
