package loyalty

import (
	"context"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/loyalty/web"
)

// memberPage builds the member webview of an SDK session: the customer's points and cards from
// the ledger, and for the "full" widget the host's catalog.
func (s *Service) memberPage(ses *session) web.Member {
	st := s.eng.State()
	sum := s.CustomerLoyalty(ses.customerID)
	m := web.Member{Lang: web.DefaultLanguage, Header: web.Translate("").Register.Header, PartnerID: ses.sdk.Partner,
		PartnerName: s.partnerName(ses.sdk.Partner), Widget: ses.widget, ReturnURL: ses.returnURL, Points: sum.Points}
	programID := sum.ProgramID
	for _, a := range sum.Accounts {
		if a.Status == string(ledger.LoyaltyCancelled) {
			continue
		}
		mem, _ := st.LoyaltyMember(a.CardID)
		m.Accounts = append(m.Accounts, web.MemberAccount{CardID: a.CardID, Masked: s.masked(mem), Status: a.Status, Points: a.Points})
	}
	if programID == "" {
		return m
	}
	// The selected reward (seed §6.5: shown on the main page) is the goal widget's goal.
	selected := ""
	for _, a := range sum.Accounts {
		if mem, ok := st.LoyaltyMember(a.CardID); ok && mem.SelectedRewardID != "" && a.Status != string(ledger.LoyaltyCancelled) {
			selected = mem.SelectedRewardID
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), FlowTimeout)
	defer cancel()
	for _, it := range s.catalog(ctx, programID) {
		item := web.MemberItem{ID: it.RewardMatrixItemID, Short: it.RewardItemShortDescription,
			Long: it.RewardItemLongDescription, Points: it.RewardMatrixItemPointValue}
		if item.ID == selected {
			g := item
			m.Goal = &g
			m.GoalMissing = max(0, item.Points-sum.Points)
		}
		if ses.widget == "full" {
			m.Items = append(m.Items, item)
		}
	}
	return m
}

// catalog reads the programme's catalog from the host: the categories, then each category's
// items (seed §6.5). A host that does not answer shows an empty catalog.
func (s *Service) catalog(ctx context.Context, programID string) []mrswire.Item {
	cats, err := s.host.Call(ctx, mrswire.OpGetRewardCatalog, []mrswire.Field{{Name: "programId", Value: programID}})
	if err != nil || cats.StatusCode != mrswire.StatusSuccess {
		return nil
	}
	var out []mrswire.Item
	for _, c := range cats.Categories {
		items, err := s.host.Call(ctx, mrswire.OpGetRewardItems, []mrswire.Field{{Name: "programId", Value: programID},
			{Name: "rewardCategoryId", Value: c.CategoryID}})
		if err == nil && items.StatusCode == mrswire.StatusSuccess {
			out = append(out, items.Items...)
		}
	}
	return out
}
