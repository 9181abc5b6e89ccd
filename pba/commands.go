package pba

import (
	"encoding/json"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Every Pay by Account change is one ledger command (kind OpPBA) whose Apply checks everything
// it needs before it writes anything: the engine has no per-command rollback, so a refusal
// must leave the batch untouched. Ids and random values are drawn by the caller and passed in:
// Apply reads only the batch and the time the engine gives.

type command[T any] struct {
	keys  func(*ledger.Keys)
	apply func(tx *ledger.Tx, env *ledger.Env) (T, *ledger.Refusal)
	audit func(tx *ledger.Tx, env *ledger.Env, v T) // on success, in the same batch
}

func (command[T]) Kind() ledger.OpKind { return ledger.OpPBA }
func (c command[T]) Keys(k *ledger.Keys) {
	if c.keys != nil {
		c.keys(k)
	}
}

func (c command[T]) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[T] {
	v, r := c.apply(tx, env)
	if r == nil && c.audit != nil {
		c.audit(tx, env, v)
	}
	return ledger.Result[T]{Value: v, Refusal: r}
}

func notFound(code, msg string) *ledger.Refusal {
	return &ledger.Refusal{Kind: ledger.NotFound, Code: code, Message: msg}
}
func conflict(code, msg string) *ledger.Refusal {
	return &ledger.Refusal{Kind: ledger.Conflict, Code: code, Message: msg}
}
func invalid(code, field, msg string) *ledger.Refusal {
	return &ledger.Refusal{Kind: ledger.Invalid, Code: code, Message: msg, Field: field}
}

// Refusals of the seed and contract §6.
var (
	errUserNotFound  = notFound("USER_NOT_FOUND", "no such user")
	errIBANNotFound  = notFound("IBAN_NOT_FOUND", "the user has no such IBAN")
	errTokenNotFound = notFound("PAYMENT_TOKEN_NOT_FOUND", "no such payment token")
	errCantFind      = notFound("CANT_FIND_DEVICE", "the installation does not exist any more: pair the device again")
	errTokenDeleted  = conflict("PAYMENT_TOKEN_DELETED", "the payment token was deleted")
	errTokenKind     = conflict("PAYMENT_TOKEN_TYPE_MISMATCH", "the operation is for the other kind of payment token")
	errNotAvailable  = conflict("STATIC_TOKEN_PAYMENT_DATA_NOT_AVAILABLE", "the static token's payment data is not available yet: try again later")
	errNotRegistered = conflict("DEVICE_NOT_REGISTERED_FOR_PAYMENT", "registerDeviceForPayment first")
	errNoCredentials = conflict("NO_TRANSACTION_CREDENTIALS", "the payment token has no transaction credentials left")
	errNotActive     = conflict("PAYMENT_TOKEN_NOT_ACTIVE", "the payment token is not active")
)

// Limits per user (ARCHITECTURE rule 5): past them the change is refused with 409 and the code
// named, and nothing is written.
const (
	// MaxIBANsPerUser bounds a user's IBANs (TOO_MANY_IBANS).
	MaxIBANsPerUser = 50
	// MaxLiveTokensPerUser bounds a user's tokens not deleted (TOO_MANY_PAYMENT_TOKENS).
	MaxLiveTokensPerUser = 100
	// MaxInstallationsPerUser bounds a user's paired devices (TOO_MANY_DEVICES).
	MaxInstallationsPerUser = 20
)

// newUser is a user to create if absent, with the ids drawn for it.
type newUser struct {
	Institution, Sub   string
	Phone, Email       string
	Country            string
	CustomerID         string // used when the user is new
	Currency           string // of the institution's accounts
	IBAN, IBANID       string // "" when no IBAN comes with it
	BalanceID          string // used when the link is new
	UpdateContactIfSet bool
}

// ensureUser creates the user (its ledger customer, KYC-verified: the bank has identified its
// customer) and, with an IBAN, the link and the balance behind it, unless they exist. It
// returns the link (zero without an IBAN). Writes only when the checks passed.
func ensureUser(tx *ledger.Tx, env *ledger.Env, u newUser) (Link, *ledger.Refusal) {
	now := env.Now.UnixNano()
	v := txView{tx}
	user, exists := get[User](v, userKey(u.Institution, u.Sub))
	ext := "pba:" + u.Institution + ":" + u.Sub
	// A user deleted earlier (admin deleteUser) keeps its customer and balances in the ledger:
	// the same bank user added again gets that customer back.
	oldCustomer, hadCustomer := tx.CustomerIDByExternal(ext)
	if !exists && !hadCustomer {
		if _, ok := tx.Customer(u.CustomerID); ok {
			return Link{}, conflict("ID_IN_USE", "customer id in use")
		}
	}
	var link Link
	linkExists := false
	if u.IBAN != "" {
		link, linkExists = get[Link](v, linkKey(u.Institution, u.Sub, u.IBANID))
		if !linkExists {
			if _, ok := tx.Balance(u.BalanceID); ok {
				return Link{}, conflict("ID_IN_USE", "balance id in use")
			}
			if len(v.keys(linkPrefix(u.Institution, u.Sub))) >= MaxIBANsPerUser {
				return Link{}, conflict("TOO_MANY_IBANS", "the user has the most IBANs allowed")
			}
		}
	}
	if !exists {
		user = User{Institution: u.Institution, Sub: u.Sub, CustomerID: u.CustomerID, Phone: u.Phone, Email: u.Email,
			Country: u.Country, CreatedAt: now}
		if hadCustomer {
			user.CustomerID = oldCustomer
		} else {
			c := ledger.Customer{ID: u.CustomerID, ExternalID: ext, Email: u.Email, Phone: u.Phone, CreatedAtUnixNano: now}
			if _, r := tx.CreateCustomer(c, env); r != nil {
				return Link{}, r
			}
			if _, r := tx.SetKYC(u.CustomerID, ledger.KYCVerified); r != nil {
				panic("pba: KYC of the customer just created: " + r.Error())
			}
		}
		put(tx, userKey(u.Institution, u.Sub), user)
	} else if u.UpdateContactIfSet && (u.Phone != "" || u.Email != "") {
		if u.Phone != "" {
			user.Phone = u.Phone
		}
		if u.Email != "" {
			user.Email = u.Email
		}
		put(tx, userKey(u.Institution, u.Sub), user)
	}
	if u.IBAN == "" || linkExists {
		return link, nil
	}
	b := ledger.Balance{ID: u.BalanceID, Kind: ledger.BalanceUser, CustomerID: user.CustomerID, Currency: u.Currency}
	if _, r := tx.CreateBalance(b, env); r != nil {
		panic("pba: balance of a verified customer: " + r.Error())
	}
	link = Link{Institution: u.Institution, Sub: u.Sub, IBAN: u.IBAN, IBANID: u.IBANID, Country: IBANCountry(u.IBAN),
		BalanceID: u.BalanceID, CreatedAt: now}
	put(tx, linkKey(u.Institution, u.Sub, u.IBANID), link)
	mark(tx, ibanUserKey(u.IBANID, u.Institution, u.Sub))
	return link, nil
}

// newToken is a payment token to create, with what the caller drew for it: the token PAN and
// the internal account card's number (both from the institution's program, checked unused
// here again), and the token service's reference.
type newToken struct {
	ID, Kind            string
	Institution, Sub    string
	IBANID              string
	InstallationID      string
	CardID, Program     string
	Token, Account      tokenvault.Issued // token PAN and expiry; the account card's number
	TUR                 string
	Enroll3DS           bool
	JobID               string
	DeviceInfoForNotify any
}

// createToken books a new payment token of a user's IBAN: the internal account card on the
// IBAN's balance (never authorizing by its own number: its program is tokens-only), and the
// ledger token funding from it, INACTIVE until the CVC2 is confirmed (static) or provisioning
// succeeds (device).
func createToken(tx *ledger.Tx, env *ledger.Env, n newToken) (PaymentToken, *ledger.Refusal) {
	v := txView{tx}
	link, ok := get[Link](v, linkKey(n.Institution, n.Sub, n.IBANID))
	if !ok {
		return PaymentToken{}, errIBANNotFound
	}
	if n.InstallationID != "" {
		if _, ok := get[Installation](v, installKey(n.InstallationID)); !ok {
			return PaymentToken{}, errCantFind
		}
	}
	if _, ok := tx.CardIDByPANHash(n.Token.PANHash); ok {
		return PaymentToken{}, conflict("PAN_IN_USE", "the token PAN is in use")
	}
	if _, ok := tx.TokenIDByPANHash(n.Token.PANHash); ok {
		return PaymentToken{}, conflict("PAN_IN_USE", "the token PAN is in use")
	}
	if _, ok := tx.CardIDByPANHash(n.Account.PANHash); ok || n.Account.PANHash == n.Token.PANHash {
		return PaymentToken{}, conflict("PAN_IN_USE", "the account number is in use")
	}
	if _, ok := tx.TokenIDByPANHash(n.Account.PANHash); ok {
		return PaymentToken{}, conflict("PAN_IN_USE", "the account number is in use")
	}
	if _, ok := tx.Token(n.ID); ok {
		return PaymentToken{}, conflict("ID_IN_USE", "payment token id in use")
	}
	if _, ok := tx.Card(n.CardID); ok {
		return PaymentToken{}, conflict("ID_IN_USE", "card id in use")
	}
	live := 0
	for _, k := range v.keys(userTokensPrefix(n.Institution, n.Sub)) {
		if tokenState(v, lastPart(k)) != authz.TokenDeleted {
			live++
		}
	}
	if live >= MaxLiveTokensPerUser {
		return PaymentToken{}, conflict("TOO_MANY_PAYMENT_TOKENS", "the user has the most live payment tokens allowed")
	}
	now := env.Now.UnixNano()
	card := ledger.Card{ID: n.CardID, BalanceID: link.BalanceID, Program: n.Program, Type: ledger.CardVirtual,
		PANHash: n.Account.PANHash, PAN: n.Account.PAN.Reveal(), Last4: n.Account.PAN.Last4(),
		ExpiryYYMM: n.Token.ExpiryYYMM, PSN: "00", CreatedAtUnixNano: now}
	if _, r := tx.IssueCard(card, env); r != nil {
		return PaymentToken{}, r
	}
	typ := ledger.TokenECOM
	if n.Kind == KindDevice {
		typ = ledger.TokenHCE
	}
	lt := ledger.Token{ID: n.ID, CardID: n.CardID, PANHash: n.Token.PANHash, PAN: n.Token.PAN.Reveal(),
		Last4: n.Token.PAN.Last4(), ExpiryYYMM: n.Token.ExpiryYYMM, PSN: "00", State: authz.TokenInactive, Type: typ,
		WalletProvider: ledger.PBAWalletPrefix + n.Institution, CreatedAtUnixNano: now}
	if _, r := tx.AddToken(lt, env); r != nil {
		panic("pba: token checked unused: " + r.Error())
	}
	pt := PaymentToken{ID: n.ID, Kind: n.Kind, Institution: n.Institution, Sub: n.Sub, IBANID: n.IBANID,
		InstallationID: n.InstallationID, CardID: n.CardID, TUR: n.TUR, Last4: lt.Last4, ExpiryYYMM: lt.ExpiryYYMM,
		CreatedAt: now}
	if n.Kind == KindDevice {
		pt.NextATC = 1
		mark(tx, pendingProvisioningKey(n.ID))
		enqueue(tx, n.InstallationID, MsgRemote, n.ID, map[string]string{"action": "PROVISION"}, env.Now.UnixMilli())
	} else {
		mark(tx, pendingCVC2Key(n.ID))
		setJob(tx, jobACS, n.ID, targetEnrolled, env.Now)
	}
	put(tx, tokenKey(n.ID), pt)
	mark(tx, userTokensPrefix(n.Institution, n.Sub)+n.ID)
	return pt, nil
}

func pendingCVC2Key(id string) string         { return "pc/" + id }
func pendingProvisioningKey(id string) string { return "pp/" + id }

// loadToken reads a payment token and its ledger state in the batch.
func loadToken(tx *ledger.Tx, id string) (PaymentToken, ledger.Token, *ledger.Refusal) {
	pt, ok := get[PaymentToken](txView{tx}, tokenKey(id))
	if !ok {
		return PaymentToken{}, ledger.Token{}, errTokenNotFound
	}
	lt, ok := tx.Token(id)
	if !ok {
		panic("pba: payment token without its ledger token " + id)
	}
	return pt, lt, nil
}

// TokenChange is a state change asked for a payment token.
type TokenChange uint8

// Token changes.
const (
	ChangeSuspend TokenChange = iota + 1
	ChangeUnsuspend
	ChangeDelete
)

// changeToken applies a suspend, unsuspend or delete to a payment token (kind "" for any), with
// the device message and the outgoing calls (token service, 3-D Secure) as job steps. Suspending
// a suspended token or deleting a deleted one changes nothing. by names the path (audit and
// DeletedBy).
func changeToken(tx *ledger.Tx, env *ledger.Env, id, kind string, change TokenChange, by string) (PaymentToken, *ledger.Refusal) {
	pt, lt, r := loadToken(tx, id)
	if r != nil {
		return pt, r
	}
	if kind != "" && pt.Kind != kind {
		return pt, errTokenKind
	}
	if lt.State == authz.TokenDeleted {
		if change == ChangeDelete {
			return pt, nil
		}
		return pt, errTokenDeleted
	}
	var next authz.TokenState
	switch change {
	case ChangeSuspend:
		next = authz.TokenSuspended
	case ChangeUnsuspend:
		next = activeState(pt)
	case ChangeDelete:
		next = authz.TokenDeleted
	}
	if lt.State == next {
		return pt, nil
	}
	if lt.State != authz.TokenSuspended && change == ChangeUnsuspend {
		return pt, nil // not suspended: nothing to lift
	}
	if _, r := tx.SetTokenState(id, next); r != nil {
		panic("pba: token state change checked: " + r.Error())
	}
	nowMilli := env.Now.UnixMilli()
	switch change {
	case ChangeSuspend:
		setJob(tx, jobTSP, id, targetSuspended, env.Now)
		if pt.Kind == KindDevice {
			// Delivered credentials end with the suspension: the window is emptied (not
			// removed: a Pay by Account token without a window pays with no ATC either).
			tx.PutPBA(ledger.PBARecord{Key: ledger.PBAWindowKey(id), Data: ledger.EncodePBAWindow(pt.NextATC, pt.NextATC-1)})
		}
		msg := MsgTokenSuspended
		enqueue(tx, pt.InstallationID, msg, id, nil, nowMilli)
	case ChangeUnsuspend:
		setJob(tx, jobTSP, id, targetActive, env.Now)
		if pt.Kind == KindDevice {
			// The device activates the token again and gets fresh credentials (replenish).
			typ := MsgRemote
			if by == "admin" {
				typ = MsgTokenUnsuspended
			}
			enqueue(tx, pt.InstallationID, typ, id, map[string]string{"action": "ACTIVATE"}, nowMilli)
		}
	case ChangeDelete:
		pt.DeletedAt, pt.DeletedBy = env.Now.UnixNano(), by
		put(tx, tokenKey(id), pt)
		setJob(tx, jobTSP, id, targetDeleted, env.Now)
		if pt.Kind == KindStatic {
			setJob(tx, jobACS, id, targetUnenrolled, env.Now)
		}
		tx.DeletePBA(ledger.PBAWindowKey(id))
		tx.DeletePBA(pendingCVC2Key(id))
		tx.DeletePBA(pendingProvisioningKey(id))
		tx.DeletePBA(activeDeviceKey(id))
		enqueue(tx, pt.InstallationID, MsgTokenDeleted, id, map[string]string{"reason": by}, nowMilli)
	}
	return pt, nil
}

// activeState is the state a token returns to when a suspension is lifted: ACTIVE once it was
// usable (CVC2 confirmed, or provisioned), otherwise INACTIVE as it was created.
func activeState(pt PaymentToken) authz.TokenState {
	if (pt.Kind == KindStatic && pt.CVC2Confirmed) || (pt.Kind == KindDevice && pt.Provisioned) {
		return authz.TokenActive
	}
	return authz.TokenInactive
}

// deleteInstallation removes an installation: its device tokens are deleted (the token service
// deletes follow as job steps), its messages dropped, and the device left without an active
// installation if it was the one.
func deleteInstallation(tx *ledger.Tx, env *ledger.Env, installID, by string) {
	v := txView{tx}
	in, ok := get[Installation](v, installKey(installID))
	if !ok {
		return
	}
	for _, k := range v.keys(userTokensPrefix(in.Institution, in.Sub)) {
		pt, ok := get[PaymentToken](v, tokenKey(lastPart(k)))
		if ok && pt.Kind == KindDevice && pt.InstallationID == installID {
			if _, r := changeToken(tx, env, pt.ID, KindDevice, ChangeDelete, by); r != nil {
				panic("pba: delete of a listed token: " + r.Error())
			}
		}
	}
	dropMessages(tx, installID)
	if cur, ok := tx.PBA(deviceKey(in.DeviceID)); ok && string(cur.Data) == installID {
		tx.DeletePBA(deviceKey(in.DeviceID))
	}
	tx.DeletePBA(userInstallsPrefix(in.Institution, in.Sub) + installID)
	tx.DeletePBA(installKey(installID))
}

// deleteLink removes a user's IBAN (admin deleteIban, deleteUser): every token of the user on
// that IBAN is deleted; the same IBAN of another user is untouched (seed §1.3). The balance
// stays in the ledger (it may hold money and open holds): it just has no IBAN any more.
func deleteLink(tx *ledger.Tx, env *ledger.Env, inst, sub, ibanID, by string) *ledger.Refusal {
	v := txView{tx}
	if _, ok := get[Link](v, linkKey(inst, sub, ibanID)); !ok {
		return errIBANNotFound
	}
	for _, k := range v.keys(userTokensPrefix(inst, sub)) {
		pt, ok := get[PaymentToken](v, tokenKey(lastPart(k)))
		if ok && pt.IBANID == ibanID {
			if _, r := changeToken(tx, env, pt.ID, "", ChangeDelete, by); r != nil {
				panic("pba: delete of a listed token: " + r.Error())
			}
		}
	}
	tx.DeletePBA(linkKey(inst, sub, ibanID))
	tx.DeletePBA(ibanUserKey(ibanID, inst, sub))
	return nil
}

// userTokens lists a user's payment tokens (deleted ones included) as a view reads them.
func userTokens(v keyLister, inst, sub string) []PaymentToken {
	var out []PaymentToken
	for _, k := range v.keys(userTokensPrefix(inst, sub)) {
		if pt, ok := get[PaymentToken](v, tokenKey(lastPart(k))); ok {
			out = append(out, pt)
		}
	}
	return out
}

// marshal is json.Marshal for audit views, which are always encodable.
func marshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// auditRecord builds an audit entry of a Pay by Account change.
func auditRecord(who Caller, now time.Time, action, resourceType, id string, after any) ledger.AuditRecord {
	r := ledger.AuditRecord{AtUnixNano: now.UnixNano(), Actor: who.Name, Channel: who.Channel, Role: who.Role,
		Action: action, ResourceType: resourceType, ResourceID: id}
	if after != nil {
		r.After = marshal(after)
	}
	return r
}
