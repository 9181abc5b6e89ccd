package loyalty

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/mgmt"
)

// The partner and operator API of the loyalty platform (docs/openapi.yaml, tag loyalty): the
// catalog, redemptions, the selected reward and households on the /secure rule (mutual TLS, or
// loopback without TLS), the confirmation outbox and the purge on the /admin rule.

// Attach gives the service the management listener whose channel rules its API applies; call it
// before serving.
func (s *Service) Attach(h *mgmt.Server) { s.api = h }

func (s *Service) secure(ctx *fasthttp.RequestCtx) bool {
	if s.api == nil {
		mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "UNAVAILABLE", "the loyalty API is not attached", "")
		return false
	}
	_, ok := s.api.SecureCaller(ctx)
	return ok
}

func (s *Service) admin(ctx *fasthttp.RequestCtx, role string) bool {
	if s.api == nil {
		mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "UNAVAILABLE", "the loyalty API is not attached", "")
		return false
	}
	_, ok := s.api.AdminCaller(ctx, role)
	return ok
}

// notApplied answers a command the ledger did not apply: 503 when it did not answer in time, the
// refusal's status and code when it refused. It reports whether it answered.
func notApplied(ctx *fasthttp.RequestCtx, refusal *ledger.Refusal, err error) bool {
	switch {
	case err != nil:
		mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "UNAVAILABLE", "the ledger did not answer in time", "")
	case refusal != nil:
		writeRefusal(ctx, refusal)
	default:
		return false
	}
	return true
}

func writeRefusal(ctx *fasthttp.RequestCtx, r *ledger.Refusal) {
	status := fasthttp.StatusConflict
	switch r.Kind {
	case ledger.Invalid:
		status = fasthttp.StatusBadRequest
	case ledger.NotFound:
		status = fasthttp.StatusNotFound
	}
	mgmt.WriteError(ctx, status, r.Code, r.Message, r.Field)
}

// writeHostError answers a host call without an answer, or a host refusal.
func writeHostError(ctx *fasthttp.RequestCtx, err error, code string) {
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		mgmt.WriteError(ctx, fasthttp.StatusGatewayTimeout, "HOST_OUTCOME_UNKNOWN", "the rewards host did not answer; the change may have been applied", "")
	case err != nil:
		mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "HOST_UNAVAILABLE", "the rewards host is unavailable", "")
	default:
		mgmt.WriteError(ctx, fasthttp.StatusConflict, "HOST_REFUSED", "the rewards host answered statusCode "+code, "")
	}
}

func apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), FlowTimeout)
}

// customerProgram is the programme of a customer's live cards ("" without one).
func (s *Service) customerProgram(customerID string) string {
	return s.CustomerLoyalty(customerID).ProgramID
}

func (s *Service) customerExists(ctx *fasthttp.RequestCtx, customerID string) bool {
	if _, ok := s.eng.State().Customer(customerID); !ok {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "CUSTOMER_NOT_FOUND", "no such customer", "")
		return false
	}
	return true
}

// itemView is a reward item with the seed's attributes (§6.5), the switches as booleans.
type itemView struct {
	RewardMatrixItemID               string `json:"rewardMatrixItemId"`
	CategoryID                       string `json:"rewardCategoryId"`
	RewardItemShortDescription       string `json:"rewardItemShortDescription"`
	RewardItemLongDescription        string `json:"rewardItemLongDescription"`
	ImageURL                         string `json:"imageUrl"`
	RewardMatrixItemPointValue       int64  `json:"rewardMatrixItemPointValue"`
	ShippingAddressSw                bool   `json:"shippingAddressSw"`
	RedeemableItemSw                 bool   `json:"redeemableItemSw"`
	PhysicalAddressRequiredSw        bool   `json:"physicalAddressRequiredSw"`
	SingleQuantityRedemptionSw       bool   `json:"singleQuantityRedemptionSw"`
	EmailAddressRequiredSw           bool   `json:"emailAddressRequiredSw"`
	OrderInformation                 string `json:"orderInformation"`
	PersonalizationInformationSw     bool   `json:"personalizationInformationSw"`
	PersonalizationInformationLength int    `json:"personalizationInformationLength"`
	PersonalizationLabel             string `json:"personalizationLabel"`
}

func yes(sw string) bool { return strings.EqualFold(sw, "Y") || strings.EqualFold(sw, "true") }

func viewItem(it mrswire.Item) itemView {
	return itemView{RewardMatrixItemID: it.RewardMatrixItemID, CategoryID: it.CategoryID,
		RewardItemShortDescription: it.RewardItemShortDescription, RewardItemLongDescription: it.RewardItemLongDescription,
		ImageURL: it.ImageURL, RewardMatrixItemPointValue: it.RewardMatrixItemPointValue,
		ShippingAddressSw: yes(it.ShippingAddressSw), RedeemableItemSw: yes(it.RedeemableItemSw),
		PhysicalAddressRequiredSw: yes(it.PhysicalAddressRequiredSw), SingleQuantityRedemptionSw: yes(it.SingleQuantityRedemptionSw),
		EmailAddressRequiredSw: yes(it.EmailAddressRequiredSw), OrderInformation: it.OrderInformation,
		PersonalizationInformationSw:     yes(it.PersonalizationInformationSw),
		PersonalizationInformationLength: it.PersonalizationInformationLength, PersonalizationLabel: it.PersonalizationLabel}
}

// hCatalog is GET /loyalty/customers/{customerId}/catalog.
func (s *Service) hCatalog(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	program := s.customerProgram(p[0])
	if program == "" {
		mgmt.WriteError(ctx, fasthttp.StatusConflict, "NOT_ENROLLED", "the customer has no enrolled card", "")
		return
	}
	c, cancel := apiCtx()
	defer cancel()
	out := []itemView{}
	for _, it := range s.catalog(c, program) {
		out = append(out, viewItem(it))
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"programId": program, "items": out})
}

type redemptionView struct {
	RedemptionID string `json:"redemptionId"`
	CardID       string `json:"cardId"`
	ItemID       string `json:"itemId"`
	Quantity     int64  `json:"quantity"`
	Points       int64  `json:"points"`
	Status       string `json:"status"`
	CreatedAt    string `json:"createdAt"`
}

func viewRedemption(r ledger.LoyaltyRedemption) redemptionView {
	return redemptionView{RedemptionID: r.ID, CardID: r.CardID, ItemID: r.ItemID, Quantity: r.Quantity, Points: r.Points,
		Status: r.Status, CreatedAt: time.Unix(0, r.CreatedAtUnixNano).UTC().Format(time.RFC3339)}
}

// hRedeem is POST /loyalty/customers/{customerId}/redemptions: the item's value and attributes
// are read from the host's catalog, then the points are debited in one batch.
func (s *Service) hRedeem(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	var in struct {
		CardID   string `json:"cardId"`
		ItemID   string `json:"itemId"`
		Quantity int64  `json:"quantity"`
	}
	if !decodeBody(ctx, &in) || in.CardID == "" || in.ItemID == "" {
		invalidPayload(ctx, `body: {"cardId", "itemId", "quantity"?}`)
		return
	}
	if in.Quantity == 0 {
		in.Quantity = 1
	}
	m, ok := s.customerMember(p[0], in.CardID)
	if !ok {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "NOT_ENROLLED", "the card is not enrolled", "cardId")
		return
	}
	c, cancel := apiCtx()
	defer cancel()
	var item *mrswire.Item
	for _, it := range s.catalog(c, m.ProgramID) {
		if it.RewardMatrixItemID == in.ItemID {
			item = &it
			break
		}
	}
	if item == nil {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "ITEM_NOT_FOUND", "no such reward in the programme's catalog", "itemId")
		return
	}
	red, refusal, err := do(s, ledger.RedeemLoyalty{ID: "red_" + randomID()[:20], CardID: m.CardID, CustomerID: p[0],
		ItemID: item.RewardMatrixItemID, PointsEach: item.RewardMatrixItemPointValue, Quantity: in.Quantity,
		Redeemable: yes(item.RedeemableItemSw), SingleQuantity: yes(item.SingleQuantityRedemptionSw)})
	if notApplied(ctx, refusal, err) {
		return
	}
	writeJSON(ctx, fasthttp.StatusCreated, viewRedemption(red))
}

// hRedemptions is GET /loyalty/customers/{customerId}/redemptions.
func (s *Service) hRedemptions(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	out := []redemptionView{}
	for _, r := range s.eng.State().LoyaltyRedemptionsOfCustomer(p[0]) {
		out = append(out, viewRedemption(r))
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"redemptions": out})
}

// hCancelRedemption is POST /loyalty/customers/{customerId}/redemptions/{redemptionId}/cancel.
func (s *Service) hCancelRedemption(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	red, refusal, err := do(s, ledger.CancelRedemption{ID: p[1], CustomerID: p[0]})
	if notApplied(ctx, refusal, err) {
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, viewRedemption(red))
}

// hSelectReward is PUT /loyalty/customers/{customerId}/selected-reward.
func (s *Service) hSelectReward(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	var in struct {
		CardID string `json:"cardId"`
		ItemID string `json:"itemId"`
	}
	if !decodeBody(ctx, &in) || in.CardID == "" || len(in.ItemID) > 64 {
		invalidPayload(ctx, `body: {"cardId", "itemId"} ("" clears)`)
		return
	}
	m, refusal, err := do(s, ledger.SelectReward{CardID: in.CardID, CustomerID: p[0], ItemID: in.ItemID})
	if notApplied(ctx, refusal, err) {
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"cardId": m.CardID, "selectedRewardId": m.SelectedRewardID})
}

// hostAccount finds the host's account of a member (its MRS customer id and current household).
func (s *Service) hostAccount(c context.Context, m ledger.LoyaltyMember) (mrswire.Account, string, error) {
	resp, err := s.host.Call(c, mrswire.OpGetCustomerAccounts, []mrswire.Field{{Name: "bankCustomerNumber", Value: m.CustomerExternalID}})
	if err != nil || resp.StatusCode != mrswire.StatusSuccess {
		return mrswire.Account{}, resp.StatusCode, err
	}
	for _, a := range resp.Accounts {
		if a.RANAC == m.RANAC {
			return a, "", nil
		}
	}
	return mrswire.Account{}, mrswire.StatusAccountNotFound, nil
}

// hHousehold is POST /loyalty/customers/{customerId}/household/{action}: move (into householdId),
// remove (into a household of its own) or role (roleId P, R or N). A card that lands as a
// non-redeemer is made a redeemer, as the seed says by default.
func (s *Service) hHousehold(ctx *fasthttp.RequestCtx, p []string) {
	if !s.secure(ctx) || !s.customerExists(ctx, p[0]) {
		return
	}
	var in struct {
		CardID      string `json:"cardId"`
		HouseholdID string `json:"householdId"`
		RoleID      string `json:"roleId"`
	}
	action := p[1]
	if !decodeBody(ctx, &in) || in.CardID == "" || (action == "move" && in.HouseholdID == "") || (action == "role" && in.RoleID == "") {
		invalidPayload(ctx, `body: {"cardId", "householdId" (move), "roleId" (role)}`)
		return
	}
	if action != "move" && action != "remove" && action != "role" {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "NOT_FOUND", "household actions: move, remove, role", "")
		return
	}
	if action == "role" && in.RoleID != ledger.RolePrimary && in.RoleID != ledger.RoleRedeemer && in.RoleID != ledger.RoleNonRedeemer {
		mgmt.WriteError(ctx, fasthttp.StatusBadRequest, "INVALID_FIELD", "roleId: P, R or N", "roleId")
		return
	}
	m, ok := s.customerMember(p[0], in.CardID)
	if !ok || m.Status == ledger.LoyaltyCancelled {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "NOT_ENROLLED", "the card is not enrolled", "cardId")
		return
	}
	c, cancel := apiCtx()
	defer cancel()
	acc, code, err := s.hostAccount(c, m)
	if err != nil || code != "" {
		writeHostError(ctx, err, code)
		return
	}
	household, role := acc.HouseholdID, acc.RoleID
	switch action {
	case "move", "remove":
		op, target := mrswire.OpMoveAccountToExistingHousehold, in.HouseholdID
		if action == "remove" {
			op, target = mrswire.OpRemoveAccountFromHousehold, acc.HouseholdID
		}
		resp, err := s.host.Call(c, op, []mrswire.Field{{Name: "accountId", Value: acc.AccountID}, {Name: "householdId", Value: target}})
		if err != nil || resp.StatusCode != mrswire.StatusSuccess {
			writeHostError(ctx, err, resp.StatusCode)
			return
		}
		household = resp.NewHouseholdID
		if after, code, err := s.hostAccount(c, m); err == nil && code == "" {
			role = after.RoleID
		}
		if role == ledger.RoleNonRedeemer {
			in.RoleID = ledger.RoleRedeemer // seed §6.6: non-redeemers are made redeemers by default
		}
	}
	if in.RoleID != "" && in.RoleID != role {
		resp, err := s.host.Call(c, mrswire.OpUpdateHouseholdRole, []mrswire.Field{{Name: "householdId", Value: household},
			{Name: "roleId", Value: in.RoleID}, {Name: "childCustomerId", Value: acc.CustomerID}})
		if err != nil || resp.Success != "true" {
			writeHostError(ctx, err, resp.StatusCode)
			return
		}
		role = in.RoleID
	}
	after, refusal, err := do(s, ledger.SetHousehold{CardID: m.CardID, CustomerID: p[0], HouseholdID: household, Role: role})
	if notApplied(ctx, refusal, err) {
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"cardId": after.CardID, "householdId": after.HouseholdID, "role": after.Role})
}

type confirmationView struct {
	ID        string `json:"confirmationId"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
	CreatedAt string `json:"createdAt"`
}

// hConfirmations is GET /loyalty/admin/confirmations: the outbox (pending and failed).
func (s *Service) hConfirmations(ctx *fasthttp.RequestCtx, _ []string) {
	if !s.admin(ctx, mgmt.RoleEmployee) {
		return
	}
	out := []confirmationView{}
	for _, c := range s.eng.State().LoyaltyConfirmations() {
		out = append(out, confirmationView{ID: c.ID, Status: c.Status, Attempts: c.Attempts, LastError: c.LastError,
			CreatedAt: time.Unix(0, c.CreatedAtUnixNano).UTC().Format(time.RFC3339)})
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"confirmations": out})
}

// hRetryConfirmation is POST /loyalty/admin/confirmations/{confirmationId}/retry.
func (s *Service) hRetryConfirmation(ctx *fasthttp.RequestCtx, p []string) {
	if !s.admin(ctx, mgmt.RoleManager) {
		return
	}
	c, refusal, err := do(s, ledger.RetryConfirmation{ID: p[0]})
	if notApplied(ctx, refusal, err) {
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, confirmationView{ID: c.ID, Status: c.Status, Attempts: c.Attempts,
		CreatedAt: time.Unix(0, c.CreatedAtUnixNano).UTC().Format(time.RFC3339)})
}

// hPurge is POST /loyalty/admin/purge: the purge job now.
func (s *Service) hPurge(ctx *fasthttp.RequestCtx, _ []string) {
	if !s.admin(ctx, mgmt.RoleAdmin) {
		return
	}
	purged, err := s.PurgeDue(s.clock())
	if err != nil {
		mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "UNAVAILABLE", "the ledger did not answer in time", "")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]int{"purged": len(purged)})
}
