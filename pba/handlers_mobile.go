package pba

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// verify checks signed data for the purposes allowed; any failure is 401
// INVALID_TRUSTED_IDENTITY (the reason goes to the log only).
func (s *Service) verify(field, signed string, purposes ...string) (Claims, *apiError) {
	if signed == "" {
		return Claims{}, missing(field)
	}
	c, err := s.ids.Verify(signed, s.clock(), purposes...)
	if errors.Is(err, ErrReplayTableFull) {
		return Claims{}, errUnavailable
	}
	if err != nil {
		s.log.Info("pba signed data refused", "field", field, "err", err)
		return Claims{}, errIdentity
	}
	if _, ok := s.insts[c.Issuer]; !ok {
		return Claims{}, errIdentity
	}
	// Durable before it is acted on, so a restart does not reopen the replay window (replay.go).
	forgetAt := time.Unix(c.Expiry, 0).Add(Leeway)
	if _, aerr := s.exec(useJTI(jtiKey(c.Issuer, c.ID), forgetAt)); aerr != nil {
		if aerr.Code == errReplayed.Code {
			s.log.Info("pba signed data refused", "field", field, "err", "jti used before a restart")
			return Claims{}, errIdentity
		}
		return Claims{}, aerr
	}
	return c, nil
}

// signedAccountInfo reads a body {"signedAccountInfo"}, verifies it and gives the user and IBAN
// it names (M1 and S1).
func (s *Service) signedAccountInfo(c *call) (Claims, newUser, *apiError) {
	var in struct {
		SignedAccountInfo string `json:"signedAccountInfo"`
	}
	if err := c.decode(&in); err != nil {
		return Claims{}, newUser{}, err
	}
	cl, aerr := s.verify("signedAccountInfo", in.SignedAccountInfo, PurposeAccountInfo)
	if aerr != nil {
		return Claims{}, newUser{}, aerr
	}
	nu, aerr := s.accountInfo(cl)
	return cl, nu, aerr
}

// accountInfo turns verified accountInfo claims into the user and IBAN to ensure.
func (s *Service) accountInfo(c Claims) (newUser, *apiError) {
	iban := ElectronicIBAN(c.IBAN)
	if !ValidIBAN(iban) {
		return newUser{}, errBad("INVALID_IBAN", "iban", "the IBAN fails the ISO 13616 mod-97 check")
	}
	return newUser{Institution: c.Issuer, Sub: c.Subject, Phone: c.Phone, Email: c.Email, Country: c.CountryCode,
		CustomerID: newID("cus_pba_"), Currency: s.insts[c.Issuer].currency, IBAN: iban, IBANID: IBANID(iban),
		BalanceID: newID("bal_pba_")}, nil
}

type userView struct {
	UserID string `json:"userId"`
	IBANID string `json:"ibanId"`
}

// hAddUserWithIban is M1: the user and its IBAN from signedAccountInfo.
func (s *Service) hAddUserWithIban(c *call) (any, *apiError) {
	cl, nu, aerr := s.signedAccountInfo(c)
	if aerr != nil {
		return nil, aerr
	}
	who := Caller{Name: "pba:" + cl.Issuer + ":" + cl.Subject, Channel: chanMobile}
	link, aerr := execT(s, command[Link]{apply: func(tx *ledger.Tx, env *ledger.Env) (Link, *ledger.Refusal) {
		return ensureUser(tx, env, nu)
	}, audit: func(tx *ledger.Tx, env *ledger.Env, l Link) {
		tx.Audit(auditRecord(who, env.Now, "pba.user.iban_added", "user", cl.Subject,
			map[string]string{"ibanId": l.IBANID, "iban": maskIBAN(l.IBAN)}))
	}})
	if aerr != nil {
		return nil, aerr
	}
	return userView{UserID: cl.Subject, IBANID: link.IBANID}, nil
}

type deviceInfo struct {
	DeviceID string `json:"deviceId"`
}

// MaxDeviceIDLen bounds deviceInfo.deviceId.
const MaxDeviceIDLen = 128

// hPair is M2: a new installation of the device for the user; the device's previous active
// installation (of any user) is deleted, its device tokens with it.
func (s *Service) hPair(c *call) (any, *apiError) {
	var in struct {
		TrustedIdentity      string          `json:"trustedIdentity"`
		SignedAccountInfo    string          `json:"signedAccountInfo"`
		FCMRegistrationToken string          `json:"fcmRegistrationToken"`
		DeviceInfo           json.RawMessage `json:"deviceInfo"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	signed, field := in.TrustedIdentity, "trustedIdentity"
	if signed == "" && in.SignedAccountInfo != "" {
		signed, field = in.SignedAccountInfo, "signedAccountInfo"
	}
	if len(in.DeviceInfo) == 0 {
		return nil, missing("deviceInfo")
	}
	var di deviceInfo
	if err := json.Unmarshal(in.DeviceInfo, &di); err != nil {
		return nil, errBad("INVALID_FIELD", "deviceInfo", "deviceInfo must be an object")
	}
	if di.DeviceID == "" {
		return nil, missing("deviceInfo.deviceId")
	}
	if len(di.DeviceID) > MaxDeviceIDLen || len(in.FCMRegistrationToken) > 4096 {
		return nil, errBad("INVALID_FIELD", "deviceInfo.deviceId", "deviceId: at most 128 characters")
	}
	cl, aerr := s.verify(field, signed, PurposeTrustedIdentity, PurposeAccountInfo)
	if aerr != nil {
		return nil, aerr
	}
	nu := newUser{Institution: cl.Issuer, Sub: cl.Subject, CustomerID: newID("cus_pba_"), Currency: s.insts[cl.Issuer].currency}
	if cl.Purpose == PurposeAccountInfo {
		if nu, aerr = s.accountInfo(cl); aerr != nil {
			return nil, aerr
		}
	}
	installID := newID("ins_")
	who := Caller{Name: "pba:" + cl.Issuer + ":" + cl.Subject, Channel: chanMobile}
	var replaced string
	_, aerr = execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		if _, r := ensureUser(tx, env, nu); r != nil {
			return false, r
		}
		cur, occupied := tx.PBA(deviceKey(di.DeviceID))
		if n := len(txView{tx}.keys(userInstallsPrefix(cl.Issuer, cl.Subject))); n >= MaxInstallationsPerUser {
			if in, ok := get[Installation](txView{tx}, installKey(string(cur.Data))); !occupied || !ok || in.Sub != cl.Subject || in.Institution != cl.Issuer {
				return false, conflict("TOO_MANY_DEVICES", "the user has the most paired devices allowed: unpair one")
			}
		}
		if occupied {
			replaced = string(cur.Data)
			deleteInstallation(tx, env, replaced, "pairing_replaced")
		}
		put(tx, installKey(installID), Installation{ID: installID, DeviceID: di.DeviceID, Institution: cl.Issuer,
			Sub: cl.Subject, FCMToken: in.FCMRegistrationToken, DeviceInfo: in.DeviceInfo, CreatedAt: env.Now.UnixNano()})
		tx.PutPBA(ledger.PBARecord{Key: deviceKey(di.DeviceID), Data: []byte(installID)})
		mark(tx, userInstallsPrefix(cl.Issuer, cl.Subject)+installID)
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(who, env.Now, "pba.device.paired", "installation", installID,
			map[string]string{"replacedInstallationId": replaced}))
	}})
	if aerr != nil {
		return nil, aerr
	}
	if replaced != "" {
		s.sessions.dropInstallation(replaced)
	}
	tok, ok := s.sessions.create(cl.Issuer, cl.Subject, installID, s.clock())
	if !ok {
		return nil, errUnavailable
	}
	return map[string]string{"userSessionToken": tok, "installationId": installID}, nil
}

// hLogin is M3: a new session for an installation that still exists (404 CANT_FIND_DEVICE
// otherwise: the SDK clears its data and pairs again).
func (s *Service) hLogin(c *call) (any, *apiError) {
	var in struct {
		TrustedIdentity string `json:"trustedIdentity"`
		InstallationID  string `json:"installationId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.InstallationID == "" {
		return nil, missing("installationId")
	}
	cl, aerr := s.verify("trustedIdentity", in.TrustedIdentity, PurposeTrustedIdentity)
	if aerr != nil {
		return nil, aerr
	}
	inst, ok := get[Installation](stateView{s.eng.State()}, installKey(in.InstallationID))
	if !ok || inst.Institution != cl.Issuer || inst.Sub != cl.Subject {
		return nil, fromRefusal(errCantFind)
	}
	tok, ok := s.sessions.create(cl.Issuer, cl.Subject, in.InstallationID, s.clock())
	if !ok {
		return nil, errUnavailable
	}
	return map[string]string{"userSessionToken": tok}, nil
}

// installation reads the session's installation: a session outlives nothing it was made for.
func (s *Service) installation(c *call) (Installation, *apiError) {
	in, ok := get[Installation](stateView{s.eng.State()}, installKey(c.sess.installID))
	if !ok {
		return Installation{}, fromRefusal(errCantFind)
	}
	return in, nil
}

// hGetPkCertificate is M4: the token service's certificate the SDK encrypts its registration
// data for.
func (s *Service) hGetPkCertificate(c *call) (any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return nil, err
	}
	return map[string]string{"pkCertificate": s.pkCertificate()}, nil
}

// hRegisterDeviceForPayment is M5: the device's payment application is registered; it gets the
// mobile keys its transaction credentials are encrypted under.
func (s *Service) hRegisterDeviceForPayment(c *call) (any, *apiError) {
	var in struct {
		PaymentDeviceInfo json.RawMessage `json:"paymentDeviceInfo"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if _, aerr := s.installation(c); aerr != nil {
		return nil, aerr
	}
	appID := newID("pai_")
	key := newMobileKey()
	installID := c.sess.installID
	_, aerr := execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		in, ok := get[Installation](txView{tx}, installKey(installID))
		if !ok {
			return false, errCantFind
		}
		in.PaymentAppInstanceID = appID
		put(tx, installKey(installID), in)
		put(tx, mobileKeyKey(installID), key)
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.device.registered_for_payment", "installation", installID, nil))
	}})
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"mobileKeys": key.view(), "paymentAppInstanceId": appID,
		"remoteManagementUrl": "/pba/getPendingMessages"}, nil
}

// digitize draws a token's numbers and asks the token service for the token, then books it.
func (s *Service) digitize(who Caller, inst, sub, ibanID, kind, installID, appID string) (PaymentToken, *apiError) {
	in := s.insts[inst]
	st := s.eng.State()
	link, ok := get[Link](stateView{st}, linkKey(inst, sub, ibanID))
	if !ok {
		return PaymentToken{}, fromRefusal(errIBANNotFound)
	}
	now := s.clock()
	tokIss, err := s.vault.Issue(tokenvault.IssueRequest{Program: in.program, Now: now}, st)
	if err != nil {
		return PaymentToken{}, errUnavailable
	}
	accIss, err := s.vault.Issue(tokenvault.IssueRequest{Program: in.program, Now: now}, st)
	if err != nil {
		return PaymentToken{}, errUnavailable
	}
	ctx, cancel := callCtx()
	tur, err := s.adapters.TokenService.Tokenize(ctx, TokenizeRequest{Institution: inst, Country: link.Country, IBANID: ibanID,
		Kind: kind, TokenLast4: tokIss.PAN.Last4(), PaymentAppInstanceID: appID})
	cancel()
	if err != nil {
		s.log.Warn("pba token service tokenize failed", "err", err)
		return PaymentToken{}, &apiError{502, "TOKEN_SERVICE_UNAVAILABLE", "the token service did not answer; try again", ""}
	}
	n := newToken{ID: newID("pt_"), Kind: kind, Institution: inst, Sub: sub, IBANID: ibanID, InstallationID: installID,
		CardID: newID("crd_pba_"), Program: in.program, Token: tokIss, Account: accIss, TUR: tur}
	return execT(s, command[PaymentToken]{apply: func(tx *ledger.Tx, env *ledger.Env) (PaymentToken, *ledger.Refusal) {
		return createToken(tx, env, n)
	}, audit: func(tx *ledger.Tx, env *ledger.Env, pt PaymentToken) {
		tx.Audit(auditRecord(who, env.Now, "pba.token.digitized", "paymentToken", pt.ID, tokenAudit(pt, authz.TokenInactive)))
	}})
}

type digitizeIn struct {
	IBANID           string `json:"ibanId"`
	UserLanguageCode string `json:"userLanguageCode"`
}

func (c *call) digitizeInput() (digitizeIn, *apiError) {
	var in digitizeIn
	if err := c.decode(&in); err != nil {
		return in, err
	}
	if in.IBANID == "" {
		return in, missing("ibanId")
	}
	if !validIBANID(in.IBANID) {
		return in, errBad("INVALID_FIELD", "ibanId", "ibanId: 64 lower-case hex characters")
	}
	return in, nil
}

// hDigitizeForDevice is M6: a device token, INACTIVE until the device confirms provisioning.
func (s *Service) hDigitizeForDevice(c *call) (any, *apiError) {
	in, aerr := c.digitizeInput()
	if aerr != nil {
		return nil, aerr
	}
	inst, aerr := s.installation(c)
	if aerr != nil {
		return nil, aerr
	}
	if inst.PaymentAppInstanceID == "" {
		return nil, fromRefusal(errNotRegistered)
	}
	pt, aerr := s.digitize(c.who, c.sess.inst, c.sess.sub, in.IBANID, KindDevice, inst.ID, inst.PaymentAppInstanceID)
	if aerr != nil {
		return nil, aerr
	}
	// The token's profile goes to the device encrypted under its mobile key (the device needs
	// the token PAN to pay; the API shows it to nobody else).
	st := s.eng.State()
	key, _ := get[mobileKey](stateView{st}, mobileKeyKey(inst.ID))
	lt, _ := st.Token(pt.ID)
	profile, err := sealJSON(key.DataEncryptionKey, TokenProfile{TokenPAN: lt.PAN, ExpDate: lt.ExpiryYYMM[2:] + lt.ExpiryYYMM[:2],
		PANSequenceNumber: lt.PSN, CVN: int(DeviceCVN.Byte())})
	if err != nil {
		return nil, errUnavailable
	}
	return map[string]any{"paymentTokenId": pt.ID, "devicePaymentTokenInfo": s.tokenView(st, pt),
		"encryptedTokenProfile": profile}, nil
}

// hDigitizeForStatic is M7: a static token, whose payment data becomes available once the
// account processing platform has its CVC2.
func (s *Service) hDigitizeForStatic(c *call) (any, *apiError) {
	in, aerr := c.digitizeInput()
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := s.installation(c); aerr != nil {
		return nil, aerr
	}
	pt, aerr := s.digitize(c.who, c.sess.inst, c.sess.sub, in.IBANID, KindStatic, "", "")
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"paymentTokenId": pt.ID, "staticPaymentTokenInfo": s.tokenView(s.eng.State(), pt)}, nil
}

// staticData answers getStaticTokenPaymentData for signed ibanInfo: the user's newest live
// static token of the IBAN, once its CVC2 is confirmed.
func (s *Service) staticData(c *call, signed string, sessionSub string) (any, *apiError) {
	cl, aerr := s.verify("signedIbanInfo", signed, PurposeIBANInfo)
	if aerr != nil {
		return nil, aerr
	}
	if sessionSub != "" && (cl.Subject != sessionSub || cl.Issuer != c.sess.inst) {
		return nil, errIdentity // signed for another user than the session's
	}
	st := s.eng.State()
	if _, ok := get[Link](stateView{st}, linkKey(cl.Issuer, cl.Subject, cl.IBANID)); !ok {
		return nil, fromRefusal(errIBANNotFound)
	}
	var best *PaymentToken
	for _, pt := range userTokens(stateView{st}, cl.Issuer, cl.Subject) {
		if pt.Kind != KindStatic || pt.IBANID != cl.IBANID || tokenState(stateView{st}, pt.ID) == authz.TokenDeleted {
			continue
		}
		if best == nil || pt.CreatedAt > best.CreatedAt {
			p := pt
			best = &p
		}
	}
	if best == nil {
		return nil, fromRefusal(errTokenNotFound)
	}
	if !best.CVC2Confirmed {
		return nil, fromRefusal(errNotAvailable)
	}
	lt, _ := st.Token(best.ID)
	card, ok := st.Card(best.CardID)
	if !ok {
		return nil, errUnavailable
	}
	who := c.who
	if who.Channel == chanMobile {
		who.Name = "pba:" + cl.Issuer + ":" + cl.Subject
	}
	s.auditAlone(auditRecord(who, s.clock(), "pba.static_token.payment_data_read", "paymentToken", best.ID, nil))
	return map[string]string{"paymentTokenId": best.ID, "tokenPAN": tokenvault.PAN(lt.PAN).Reveal(),
		"expDate": lt.ExpiryYYMM[2:] + lt.ExpiryYYMM[:2], "CVC2": tokenvault.CVC2(card.CVC2).Reveal()}, nil
}

// hGetStaticDataMobile is M8.
func (s *Service) hGetStaticDataMobile(c *call) (any, *apiError) {
	var in struct {
		SignedIBANInfo string `json:"signedIbanInfo"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.staticData(c, in.SignedIBANInfo, c.sess.sub)
}

// ownToken reads a payment token of the session's user.
func (s *Service) ownToken(c *call, id, kind string) (PaymentToken, *apiError) {
	if id == "" {
		return PaymentToken{}, missing("paymentTokenId")
	}
	pt, ok := get[PaymentToken](stateView{s.eng.State()}, tokenKey(id))
	if !ok || pt.Institution != c.sess.inst || pt.Sub != c.sess.sub {
		return PaymentToken{}, fromRefusal(errTokenNotFound)
	}
	if kind != "" && pt.Kind != kind {
		return PaymentToken{}, fromRefusal(errTokenKind)
	}
	if kind == KindDevice && pt.InstallationID != c.sess.installID {
		return PaymentToken{}, fromRefusal(errTokenNotFound) // another installation's token
	}
	return pt, nil
}

// hMobileDeleteDevice is M13: the device deletes one of its device tokens.
func (s *Service) hMobileDeleteDevice(c *call) (any, *apiError) {
	var in struct {
		PaymentTokenID string `json:"paymentTokenId"`
		Reason         string `json:"reason"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if _, aerr := s.ownToken(c, in.PaymentTokenID, KindDevice); aerr != nil {
		return nil, aerr
	}
	return s.changeTokenAudited(c.who, in.PaymentTokenID, KindDevice, ChangeDelete, "sdk")
}

// hMobileDeleteStatic is M14: the user deletes a static token.
func (s *Service) hMobileDeleteStatic(c *call) (any, *apiError) {
	var in struct {
		PaymentTokenID string `json:"paymentTokenId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if _, aerr := s.ownToken(c, in.PaymentTokenID, KindStatic); aerr != nil {
		return nil, aerr
	}
	return s.changeTokenAudited(c.who, in.PaymentTokenID, KindStatic, ChangeDelete, "sdk")
}

// changeTokenAudited applies a token change with its audit entry.
func (s *Service) changeTokenAudited(who Caller, id, kind string, ch TokenChange, by string) (any, *apiError) {
	action := map[TokenChange]string{ChangeSuspend: "pba.token.suspended", ChangeUnsuspend: "pba.token.unsuspended",
		ChangeDelete: "pba.token.deleted"}[ch]
	pt, aerr := execT(s, command[PaymentToken]{apply: func(tx *ledger.Tx, env *ledger.Env) (PaymentToken, *ledger.Refusal) {
		return changeToken(tx, env, id, kind, ch, by)
	}, audit: func(tx *ledger.Tx, env *ledger.Env, pt PaymentToken) {
		tx.Audit(auditRecord(who, env.Now, action, "paymentToken", id, tokenAudit(pt, tokenState(txView{tx}, id))))
	}})
	if aerr != nil {
		return nil, aerr
	}
	return s.tokenView(s.eng.State(), pt), nil
}

// change is the handler of a server or admin token change (S3-S8, A2-A4, A6-A8).
func change(kind string, ch TokenChange, by string) func(*Service, *call) (any, *apiError) {
	return func(s *Service, c *call) (any, *apiError) {
		var in struct {
			PaymentTokenID string `json:"paymentTokenId"`
			Reason         string `json:"reason"`
		}
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if in.PaymentTokenID == "" {
			return nil, missing("paymentTokenId")
		}
		return s.changeTokenAudited(c.who, in.PaymentTokenID, kind, ch, by)
	}
}

// hUpdateRNSToken is M10: the device's push registration token changed.
func (s *Service) hUpdateRNSToken(c *call) (any, *apiError) {
	var in struct {
		DeviceInstallationID string `json:"deviceInstallationId"`
		NewRNSToken          string `json:"newRNSToken"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.NewRNSToken == "" {
		return nil, missing("newRNSToken")
	}
	if len(in.NewRNSToken) > 4096 {
		return nil, errBad("INVALID_FIELD", "newRNSToken", "newRNSToken: at most 4096 characters")
	}
	id := c.sess.installID
	if in.DeviceInstallationID != "" && in.DeviceInstallationID != id {
		return nil, fromRefusal(errCantFind) // another installation than the session's
	}
	_, aerr := execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		in2, ok := get[Installation](txView{tx}, installKey(id))
		if !ok {
			return false, errCantFind
		}
		in2.FCMToken = in.NewRNSToken
		put(tx, installKey(id), in2)
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.device.rns_token_updated", "installation", id, nil))
	}})
	return nil, aerr
}

// hGetAllPaymentTokens is M11: the user's live tokens (static ones and this device's).
func (s *Service) hGetAllPaymentTokens(c *call) (any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return nil, err
	}
	st := s.eng.State()
	out := []tokenView{}
	for _, pt := range userTokens(stateView{st}, c.sess.inst, c.sess.sub) {
		if tokenState(stateView{st}, pt.ID) == authz.TokenDeleted {
			continue
		}
		if pt.Kind == KindDevice && pt.InstallationID != c.sess.installID {
			continue
		}
		out = append(out, s.tokenView(st, pt))
	}
	return map[string]any{"deviceAndStaticPaymentTokens": out}, nil
}

// hUnpair is M15: the installation and everything of it (device tokens, messages) is removed.
func (s *Service) hUnpair(c *call) (any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return nil, err
	}
	return nil, s.removeInstallation(c.who, c.sess.installID, "unpaired", "pba.device.unpaired")
}

// removeInstallation deletes an installation with its device tokens (asynchronously, job steps)
// and mobile keys, audits it as action, and ends its sessions. An unknown installation is 404.
func (s *Service) removeInstallation(who Caller, id, by, action string) *apiError {
	_, aerr := execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		if _, ok := get[Installation](txView{tx}, installKey(id)); !ok {
			return false, notFound("INSTALLATION_NOT_FOUND", "no such installation")
		}
		deleteInstallation(tx, env, id, by)
		tx.DeletePBA(mobileKeyKey(id))
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(who, env.Now, action, "installation", id, nil))
	}})
	if aerr != nil {
		return aerr
	}
	s.sessions.dropInstallation(id)
	return nil
}

// hReportSecurityIssue is M16 (fire and forget): recorded on the installation and in the audit
// trail.
func (s *Service) hReportSecurityIssue(c *call) (any, *apiError) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Reason) > 256 {
		in.Reason = in.Reason[:256]
	}
	id := c.sess.installID
	_, aerr := execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		in2, ok := get[Installation](txView{tx}, installKey(id))
		if !ok {
			return false, errCantFind
		}
		in2.SecurityIssues++
		put(tx, installKey(id), in2)
		return true, nil
	}, audit: func(tx *ledger.Tx, env *ledger.Env, _ bool) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.device.security_issue", "installation", id,
			map[string]string{"reason": strings.ToValidUTF8(in.Reason, "?")}))
	}})
	return nil, aerr
}

// hGetPendingMessages is M19: the installation's unacknowledged messages in order.
func (s *Service) hGetPendingMessages(c *call) (any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return nil, err
	}
	if _, aerr := s.installation(c); aerr != nil {
		return nil, aerr
	}
	ms := pendingMessages(s.eng.State(), c.sess.installID)
	if ms == nil {
		ms = []Message{}
	}
	return map[string]any{"messages": ms}, nil
}

// hAcknowledgeMessage is M18: the device has the message; it is not sent again. Acknowledging a
// message already acknowledged changes nothing.
func (s *Service) hAcknowledgeMessage(c *call) (any, *apiError) {
	var in struct {
		MessageID string `json:"messageId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.MessageID == "" {
		return nil, missing("messageId")
	}
	installID, seq, ok := parseMessageID(in.MessageID)
	if !ok || installID != c.sess.installID {
		return nil, &apiError{404, "MESSAGE_NOT_FOUND", "no such message of this installation", "messageId"}
	}
	_, aerr := execT(s, command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		tx.DeletePBA(messageKey(installID, seq))
		return true, nil
	}})
	return nil, aerr
}

// auditAlone writes an audit entry in a batch of its own (a read of payment data).
func (s *Service) auditAlone(r ledger.AuditRecord) {
	s.execLogged(command[bool]{apply: func(tx *ledger.Tx, _ *ledger.Env) (bool, *ledger.Refusal) {
		tx.Audit(r)
		return true, nil
	}})
}
