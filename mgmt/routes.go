package mgmt

// buildRoutes is the route table: the single source of the API's paths, checked against
// docs/openapi.yaml by a test both ways.
func (s *Server) buildRoutes() []*route {
	type R = route
	g := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "GET", pattern: p, channel: ch, minRole: r, handle: h, noBody: true}
	}
	post := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "POST", pattern: p, channel: ch, minRole: r, handle: h}
	}
	postOpt := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "POST", pattern: p, channel: ch, minRole: r, handle: h, bodyOpt: true}
	}
	put := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "PUT", pattern: p, channel: ch, minRole: r, handle: h}
	}
	del := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "DELETE", pattern: p, channel: ch, minRole: r, handle: h, noBody: true}
	}
	enc := func(r *R) *R { r.enc = encRequired; return r }
	// issuing attaches a card-issuing route's per-type policy (parity.go).
	issuing := func(p *issuePolicy, r *R) *R { r.issue = p; return r }

	const (
		P = chanPublic
		S = chanSecure
		C = chanCustomer
		A = chanAdmin
		E = roleEmployee
		M = roleManager
		D = roleAdmin
		N = roleNone
	)
	rs := []*R{
		// Public.
		g("/healthz", P, N, s.hHealth),
		g("/public-key", P, N, s.hPublicKey),
		// Registration from the app: its credential is a registration token from
		// /secure/registration-tokens, which the handler reads from a header or the body.
		post("/customers", P, N, s.hRegisterSelf),

		// Server-to-server.
		post("/secure/customers", S, N, s.hCreateCustomer),
		g("/secure/customers/{customerId}", S, N, s.hGetCustomer),
		post("/secure/customers/{customerId}/kyc", S, N, s.hSetKYC),
		postOpt("/secure/customers/{customerId}/sessions", S, N, s.hCreateSession),
		postOpt("/secure/registration-tokens", S, N, s.hCreateRegistrationToken),
		post("/secure/customers/{customerId}/balances", S, N, s.hCreateBalance),
		g("/secure/customers/{customerId}/balances", S, N, s.hListBalances),
		g("/secure/customers/{customerId}/balances/{balanceId}", S, N, s.hGetBalance),
		post("/secure/customers/{customerId}/balances/{balanceId}/reload", S, N, s.hReload),
		put("/secure/customers/{customerId}/balances/{balanceId}/low-balance-alert", S, N, s.hSetLowMark),
		g("/secure/customers/{customerId}/balances/{balanceId}/transactions", S, N, s.hBalanceHistory),
		issuing(secureIssue, post("/secure/customers/{customerId}/balances/{balanceId}/cards", S, N, s.hIssueCard)),
		g("/secure/cards/{cardId}", S, N, s.hGetCard),
		enc(g("/secure/cards/{cardId}/full", S, N, s.hCardFull)),
		post("/secure/cards/{cardId}/lock", S, N, s.hLock),
		postOpt("/secure/cards/{cardId}/unlock", S, N, s.hUnlock),
		postOpt("/secure/cards/{cardId}/activate", S, N, s.hActivate),
		postOpt("/secure/cards/{cardId}/remove", S, N, s.hRemove),
		postOpt("/secure/cards/{cardId}/personalisation", S, N, s.hPersonalise),
		postOpt("/secure/cards/{cardId}/reset-cvc2", S, N, s.hResetCVC2),
		g("/secure/cards/{cardId}/limits", S, N, s.hGetLimits),
		put("/secure/cards/{cardId}/limits", S, N, s.hSetLimits),
		g("/secure/cards/{cardId}/transactions", S, N, s.hCardHistory),
		g("/secure/cards/{cardId}/agreements", S, N, s.hListCardAgreements),
		post("/secure/cards/{cardId}/agreements", S, N, s.hCreateAgreement),
		g("/secure/cards/{cardId}/agreements/{agreementId}", S, N, s.hGetAgreement),
		postOpt("/secure/cards/{cardId}/agreements/{agreementId}/cancel", S, N, s.hCancelAgreement),
		g("/secure/customers/{customerId}/agreements", S, N, s.hListCustomerAgreements),
		enc(post("/secure/external-locks", S, N, s.hExternalLock)),
		g("/secure/customers/{customerId}/loyalty", S, N, s.hCustomerLoyalty),

		// Customer channel.
		g("/customers/me", C, N, s.hGetCustomer),
		del("/customers/me/session", C, N, s.hEndSession),
		g("/customers/me/balances", C, N, s.hListBalances),
		g("/customers/me/balances/{balanceId}", C, N, s.hGetBalance),
		g("/customers/me/balances/{balanceId}/transactions", C, N, s.hBalanceHistory),
		g("/customers/me/cards", C, N, s.hListMyCards),
		g("/customers/me/cards/{cardId}", C, N, s.hGetCard),
		enc(g("/customers/me/cards/{cardId}/full", C, N, s.hCardFull)),
		post("/customers/me/cards/{cardId}/lock", C, N, s.hLock),
		postOpt("/customers/me/cards/{cardId}/unlock", C, N, s.hUnlock),
		enc(post("/customers/me/cards/{cardId}/pin", C, N, s.hSetPIN)),
		g("/customers/me/cards/{cardId}/transactions", C, N, s.hCardHistory),
		g("/customers/me/cards/{cardId}/agreements", C, N, s.hListCardAgreements),
		g("/customers/me/cards/{cardId}/agreements/{agreementId}", C, N, s.hGetAgreement),
		postOpt("/customers/me/cards/{cardId}/agreements/{agreementId}/cancel", C, N, s.hCancelAgreement),
		g("/customers/me/agreements", C, N, s.hListCustomerAgreements),
		g("/customers/me/loyalty", C, N, s.hCustomerLoyalty),

		// Operators.
		g("/admin/customers/{customerId}", A, E, s.hGetCustomer),
		post("/admin/customers/{customerId}/kyc", A, M, s.hSetKYC),
		g("/admin/balances/{balanceId}", A, E, s.hAdminGetBalance),
		g("/admin/balances/{balanceId}/transactions", A, E, s.hBalanceHistory),
		g("/admin/balance-summary", A, M, s.hBalanceSummary),
		post("/admin/partner-balances", A, D, s.hCreatePartner),
		g("/admin/partner-balances", A, E, s.hListPartners),
		g("/admin/partner-balances/{balanceId}", A, E, s.hGetPartner),
		post("/admin/partner-balances/{balanceId}/reload", A, D, s.hPartnerReload),
		put("/admin/partner-balances/{balanceId}/credit-limit", A, D, s.hSetCreditLimit),
		put("/admin/partner-balances/{balanceId}/low-balance-alert", A, D, s.hSetLowMark),
		g("/admin/cards/{cardId}", A, E, s.hGetCard),
		g("/admin/cards/{cardId}/transactions", A, E, s.hCardHistory),
		g("/admin/cards/{cardId}/agreements", A, E, s.hListCardAgreements),
		g("/admin/cards/{cardId}/agreements/{agreementId}", A, E, s.hGetAgreement),
		postOpt("/admin/cards/{cardId}/agreements/{agreementId}/cancel", A, E, s.hCancelAgreement),
		g("/admin/customers/{customerId}/agreements", A, E, s.hListCustomerAgreements),
		post("/admin/cards/{cardId}/lock", A, E, s.hLock),
		postOpt("/admin/cards/{cardId}/unlock", A, M, s.hUnlock),
		postOpt("/admin/cards/{cardId}/remove", A, M, s.hRemove),
		g("/admin/cards/{cardId}/tokens", A, E, s.hListTokens),
		post("/admin/cards/{cardId}/tokens", A, D, s.hAddToken),
		g("/admin/tokens", A, E, s.hTokensOfCard), // ?cardId= (tokens_tsh.go)
		g("/admin/tokens/{tokenId}", A, E, s.hGetToken),
		postOpt("/admin/tokens/{tokenId}/suspend", A, M, s.hSuspendToken),
		postOpt("/admin/tokens/{tokenId}/resume", A, M, s.hResumeToken),
		del("/admin/tokens/{tokenId}", A, M, s.hDeleteToken),
		g("/admin/audit", A, D, s.hAudit),
		g("/admin/webhooks/events", A, D, s.hWebhookEvents),
		post("/admin/webhooks/replay", A, D, s.hWebhookReplay),

		// Channel parity with the seed's Actions tables (parity.go, docs/cards-channels.md).
		post("/customers/me/balances", C, N, s.hCreateBalance),
		issuing(customerIssue, enc(post("/customers/me/balances/{balanceId}/cards", C, N, s.hIssueCard))),
		postOpt("/customers/me/cards/{cardId}/activate", C, N, s.hActivate),
		enc(postOpt("/customers/me/cards/{cardId}/reset-cvc2", C, N, s.hResetCVC2)),
		del("/customers/me/cards/{cardId}", C, N, s.hRemove),
		issuing(adminIssue, enc(post("/admin/balances/{balanceId}/cards", A, E, s.hIssueCard))),
		postOpt("/admin/cards/{cardId}/activate", A, E, s.hActivate),
		enc(postOpt("/admin/cards/{cardId}/reset-cvc2", A, E, s.hResetCVC2)),
		post("/admin/balances/{balanceId}/reload", A, M, s.hAdminReload),
		g("/admin/customers", A, E, s.hFindCustomers),
		g("/admin/cards", A, E, s.hFindCards),
		g("/admin/balances", A, E, s.hFindBalances),

		// Operator sessions (admin_sessions.go): the login's credential is in its body.
		post("/admin/sessions", P, N, s.hOperatorLogin),
		del("/admin/session", A, E, s.hOperatorLogout),
	}
	// Users, KYC and balance states (h/cms-ledger: mgmt/balance_state.go, lifecycle.go, kyc.go).
	patch := func(p string, ch channel, r role, h func(*call) (int, any, *apiError)) *R {
		return &R{method: "PATCH", pattern: p, channel: ch, minRole: r, handle: h}
	}
	rs = append(rs,
		postOpt("/secure/customers/{customerId}/balances/{balanceId}/block", S, N, s.hBlockBalance),
		postOpt("/secure/customers/{customerId}/balances/{balanceId}/unblock", S, N, s.hUnblockBalance),
		postOpt("/secure/customers/{customerId}/balances/{balanceId}/close", S, N, s.hCloseBalance),
		postOpt("/admin/balances/{balanceId}/block", A, M, s.hBlockBalance),
		postOpt("/admin/balances/{balanceId}/unblock", A, M, s.hUnblockBalance),
		postOpt("/admin/balances/{balanceId}/close", A, M, s.hCloseBalance),
		patch("/secure/customers/{customerId}", S, N, s.hUpdateCustomer),
		postOpt("/secure/customers/{customerId}/deactivate", S, N, s.hDeactivateCustomer),
		postOpt("/secure/customers/{customerId}/reactivate", S, N, s.hReactivateCustomer),
		del("/secure/customers/{customerId}", S, N, s.hDeleteCustomer),
		patch("/customers/me", C, N, s.hUpdateCustomer),
		del("/customers/me", C, N, s.hDeleteCustomer),
		patch("/admin/customers/{customerId}", A, M, s.hUpdateCustomer),
		postOpt("/admin/customers/{customerId}/deactivate", A, M, s.hDeactivateCustomer),
		postOpt("/admin/customers/{customerId}/reactivate", A, M, s.hReactivateCustomer),
		del("/admin/customers/{customerId}", A, D, s.hDeleteCustomer),
		postOpt("/secure/customers/{customerId}/register", S, N, s.hRegisterKYC),
		postOpt("/customers/me/register", C, N, s.hRegisterKYC),
		post("/kyc/callback", P, N, s.hKYCCallback),
	)
	for _, r := range rs {
		compileRoute(r)
	}
	return rs
}
