package pba

import (
	"strconv"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// hServerDigitizeStatic is S1: the bank digitizes an IBAN for a static token (creating the user
// and the IBAN as needed).
func (s *Service) hServerDigitizeStatic(c *call) (any, *apiError) {
	cl, nu, aerr := s.signedAccountInfo(c)
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := execT(s, command[Link]{apply: func(tx *ledger.Tx, env *ledger.Env) (Link, *ledger.Refusal) {
		return ensureUser(tx, env, nu)
	}}); aerr != nil {
		return nil, aerr
	}
	pt, aerr := s.digitize(c.who, cl.Issuer, cl.Subject, nu.IBANID, KindStatic, "", "")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"paymentTokenId": pt.ID, "userId": cl.Subject, "ibanId": nu.IBANID,
		"staticPaymentTokenInfo": s.tokenView(s.eng.State(), pt)}, nil
}

// hGetStaticDataServer is S2.
func (s *Service) hGetStaticDataServer(c *call) (any, *apiError) {
	var in struct {
		SignedIBANInfo string `json:"signedIbanInfo"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.staticData(c, in.SignedIBANInfo, "")
}

// institutionOf picks the institution a server or admin request is about: the one named, or
// the only one configured.
func (s *Service) institutionOf(named string) (string, *apiError) {
	if named != "" {
		if _, ok := s.insts[named]; !ok {
			return "", errBad("UNKNOWN_INSTITUTION", "institutionId", "no such institution")
		}
		return named, nil
	}
	if len(s.order) != 1 {
		return "", missing("institutionId")
	}
	return s.order[0], nil
}

// hGetPaymentTokens is S9: the tokens of an IBAN (of one user when userId is given), deleted
// ones included so the bank sees what happened.
func (s *Service) hGetPaymentTokens(c *call) (any, *apiError) {
	var in struct {
		IBANID        string `json:"ibanId"`
		UserID        string `json:"userId"`
		InstitutionID string `json:"institutionId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.IBANID == "" {
		return nil, missing("ibanId")
	}
	inst, aerr := s.institutionOf(in.InstitutionID)
	if aerr != nil {
		return nil, aerr
	}
	st := s.eng.State()
	out := []tokenView{}
	found := false
	for _, r := range st.PBAList(ibanUsersPrefix(in.IBANID)) {
		rest := strings.TrimPrefix(r.Key, ibanUsersPrefix(in.IBANID))
		i := strings.IndexByte(rest, '/')
		if i < 0 || rest[:i] != inst {
			continue
		}
		sub := unesc(rest[i+1:])
		if in.UserID != "" && sub != in.UserID {
			continue
		}
		found = true
		for _, pt := range userTokens(stateView{st}, inst, sub) {
			if pt.IBANID == in.IBANID {
				out = append(out, s.tokenView(st, pt))
			}
		}
	}
	if !found {
		return nil, fromRefusal(errIBANNotFound)
	}
	return map[string]any{"paymentTokens": out}, nil
}

// hUpdateUser is S10: the user's contact data; the 3-D Secure server is updated for every
// enrolled static token (job steps).
func (s *Service) hUpdateUser(c *call) (any, *apiError) {
	var in struct {
		UserID        string `json:"userId"`
		Phone         string `json:"phone"`
		Email         string `json:"email"`
		InstitutionID string `json:"institutionId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.UserID == "" {
		return nil, missing("userId")
	}
	if in.Phone == "" && in.Email == "" {
		return nil, missing("phone")
	}
	if len(in.Phone) > 32 || len(in.Email) > 254 {
		return nil, errBad("INVALID_FIELD", "phone", "phone at most 32 and email at most 254 characters")
	}
	inst, aerr := s.institutionOf(in.InstitutionID)
	if aerr != nil {
		return nil, aerr
	}
	_, aerr = execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		u, ok := get[User](txView{tx}, userKey(inst, in.UserID))
		if !ok {
			return false, errUserNotFound
		}
		if in.Phone != "" {
			u.Phone = in.Phone
		}
		if in.Email != "" {
			u.Email = in.Email
		}
		put(tx, userKey(inst, in.UserID), u)
		for _, pt := range userTokens(txView{tx}, inst, in.UserID) {
			if pt.Kind == KindStatic && tokenState(txView{tx}, pt.ID) != authz.TokenDeleted {
				setJob(tx, jobACS, pt.ID, targetUpdated, env.Now)
			}
		}
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.user.updated", "user", in.UserID, nil))
	}})
	return nil, aerr
}

type ibanBalance struct {
	IBANID    string `json:"ibanId"`
	Currency  string `json:"currency"`
	Available string `json:"available"`
}

// hCreditIban funds the account behind a user's IBAN (contract §6), once per Idempotency-Key.
func (s *Service) hCreditIban(c *call) (any, *apiError) {
	var in struct {
		UserID        string `json:"userId"`
		IBANID        string `json:"ibanId"`
		Amount        string `json:"amount"`
		InstitutionID string `json:"institutionId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.UserID == "":
		return nil, missing("userId")
	case in.IBANID == "":
		return nil, missing("ibanId")
	case in.Amount == "":
		return nil, missing("amount")
	}
	inst, aerr := s.institutionOf(in.InstitutionID)
	if aerr != nil {
		return nil, aerr
	}
	link, ok := get[Link](stateView{s.eng.State()}, linkKey(inst, in.UserID, in.IBANID))
	if !ok {
		return nil, fromRefusal(errIBANNotFound)
	}
	cur := s.insts[inst].currency
	minor, aerr := parseAmount(in.Amount, cur)
	if aerr != nil {
		return nil, aerr
	}
	key := string(c.ctx.Request.Header.Peek("Idempotency-Key"))
	if len(key) > 128 {
		return nil, errBad("INVALID_FIELD", "Idempotency-Key", "Idempotency-Key: at most 128 characters")
	}
	b, aerr := execT(s, command[ledger.Balance]{keys: func(k *ledger.Keys) { ledger.ReloadKeys(link.BalanceID, key, k) },
		apply: func(tx *ledger.Tx, env *ledger.Env) (ledger.Balance, *ledger.Refusal) {
			return tx.Reload(link.BalanceID, minor, key, env)
		}, audit: func(tx *ledger.Tx, env *ledger.Env, b ledger.Balance) {
			tx.Audit(auditRecord(c.who, env.Now, "pba.iban.credited", "iban", in.IBANID,
				map[string]string{"userId": in.UserID, "amount": in.Amount, "currency": cur}))
		}})
	if aerr != nil {
		return nil, aerr
	}
	return ibanBalance{IBANID: in.IBANID, Currency: cur, Available: formatAmount(b.AvailableMinor(), cur)}, nil
}

// parseAmount reads a decimal amount in major units with exactly the currency's decimals
// (contract §4), positive.
func parseAmount(s, currency string) (int64, *apiError) {
	cur, ok := ledger.CurrencyByAlpha(currency)
	if !ok {
		return 0, errBad("UNKNOWN_CURRENCY", "amount", "unknown currency")
	}
	bad := errBad("INVALID_AMOUNT", "amount", "amount: a positive decimal with exactly "+strconv.Itoa(cur.Exponent)+" decimals")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || (cur.Exponent == 0 && hasDot) || (cur.Exponent > 0 && len(frac) != cur.Exponent) {
		return 0, bad
	}
	var v int64
	for _, ch := range whole + frac {
		if ch < '0' || ch > '9' {
			return 0, bad
		}
		v = v*10 + int64(ch-'0')
	}
	if v <= 0 {
		return 0, bad
	}
	return v, nil
}

// formatAmount writes minor units in major units with the currency's decimals.
func formatAmount(minor int64, currency string) string {
	cur, _ := ledger.CurrencyByAlpha(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if cur.Exponent > 0 {
		for len(s) <= cur.Exponent {
			s = "0" + s
		}
		s = s[:len(s)-cur.Exponent] + "." + s[len(s)-cur.Exponent:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// hDeleteDevice is A1: the installation and all its data; device tokens deleted at the token
// service afterwards (job steps).
func (s *Service) hDeleteDevice(c *call) (any, *apiError) {
	var in struct {
		DeviceInstallationID string `json:"deviceInstallationId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.DeviceInstallationID == "" {
		return nil, missing("deviceInstallationId")
	}
	return nil, s.removeInstallation(c.who, in.DeviceInstallationID, "admin", "pba.device.deleted")
}

// hDeleteIban is A5: the IBAN of one user; the same IBAN of other users is untouched.
func (s *Service) hDeleteIban(c *call) (any, *apiError) {
	var in struct {
		UserID        string `json:"userId"`
		IBANID        string `json:"ibanId"`
		InstitutionID string `json:"institutionId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.UserID == "" {
		return nil, missing("userId")
	}
	if in.IBANID == "" {
		return nil, missing("ibanId")
	}
	inst, aerr := s.institutionOf(in.InstitutionID)
	if aerr != nil {
		return nil, aerr
	}
	_, aerr = execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		if _, ok := get[User](txView{tx}, userKey(inst, in.UserID)); !ok {
			return false, errUserNotFound
		}
		return true, deleteLink(tx, env, inst, in.UserID, in.IBANID, "admin")
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.iban.deleted", "user", in.UserID, map[string]string{"ibanId": in.IBANID}))
	}})
	return nil, aerr
}

// hDeleteUser is A9: the user's IBANs and devices, every token deleted (job steps follow).
func (s *Service) hDeleteUser(c *call) (any, *apiError) {
	var in struct {
		UserID        string `json:"userId"`
		InstitutionID string `json:"institutionId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.UserID == "" {
		return nil, missing("userId")
	}
	inst, aerr := s.institutionOf(in.InstitutionID)
	if aerr != nil {
		return nil, aerr
	}
	_, aerr = execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		v := txView{tx}
		if _, ok := get[User](v, userKey(inst, in.UserID)); !ok {
			return false, errUserNotFound
		}
		for _, k := range v.keys(userInstallsPrefix(inst, in.UserID)) {
			deleteInstallation(tx, env, lastPart(k), "user_deleted")
			tx.DeletePBA(mobileKeyKey(lastPart(k)))
		}
		for _, k := range v.keys(linkPrefix(inst, in.UserID)) {
			if r := deleteLink(tx, env, inst, in.UserID, lastPart(k), "user_deleted"); r != nil {
				panic("pba: delete of a listed IBAN: " + r.Error())
			}
		}
		tx.DeletePBA(userKey(inst, in.UserID))
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.user.deleted", "user", in.UserID, nil))
	}})
	if aerr != nil {
		return nil, aerr
	}
	s.sessions.dropUser(inst, in.UserID)
	return nil, nil
}
