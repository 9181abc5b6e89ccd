package pba

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
)

// Device tokens pay contactlessly with EMV cryptograms (seed §1.5, M9, UCP::replenishCredentials).
// The device never holds a card master key: the switch derives, for each application transaction
// counter (ATC) of a window, the EMV common session key of the token (ICC master key from the
// program's IMK-AC, token PAN and PSN 00; session key from the ATC: Mastercard CVN 20/21), and
// delivers the keys to the device encrypted under the installation's mobile key (AES-256-GCM),
// given once at registerDeviceForPayment. The window of delivered ATCs is recorded (w/, read by
// the authorization path): an ARQC verifies as any card's, and its ATC must be inside the window
// and above the highest ATC seen (each credential pays once). Credentials are delivered on
// provisioning success (initial), on request (replenishCredentials) and by the switch itself when
// fewer than credentialsThreshold are left (automatic, as an mdesRemoteMessage to the device).

// DeviceCVN is the cryptogram version device tokens use.
const DeviceCVN = cardcrypto.MastercardCVN21

// mobileKey is an installation's key for transaction credentials.
type mobileKey struct {
	DataEncryptionKey string `json:"dek"` // 32 bytes, hex
}

func newMobileKey() mobileKey {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic("pba: no randomness: " + err.Error())
	}
	return mobileKey{DataEncryptionKey: hex.EncodeToString(k[:])}
}

func (k mobileKey) view() map[string]string {
	return map[string]string{"dataEncryptionKey": k.DataEncryptionKey}
}

func mobileKeyKey(installID string) string { return "k/" + installID }

// Credential is one transaction credential: the session key of one ATC.
type Credential struct {
	ATC        int    `json:"atc"`
	SessionKey string `json:"sessionKey"` // 16 bytes, hex
}

// TransactionCredentials is what a device receives: the credentials encrypted under its mobile
// key (nonce || AES-256-GCM ciphertext of the JSON list, base64), the token and the window.
type TransactionCredentials struct {
	PaymentTokenID string `json:"paymentTokenId"`
	FromATC        int    `json:"fromAtc"`
	ToATC          int    `json:"toAtc"`
	CVN            int    `json:"cvn"`
	Encrypted      string `json:"encryptedCredentials"`
}

// SealCredentials encrypts credentials under a data encryption key (hex).
func SealCredentials(dekHex string, cs []Credential) (string, error) { return sealJSON(dekHex, cs) }

// TokenProfile is what a device needs of its device token to pay: sent encrypted under its
// mobile key in the answer of digitizeIbanForDevice (encryptedTokenProfile).
type TokenProfile struct {
	TokenPAN          string `json:"tokenPAN"`
	ExpDate           string `json:"expDate"` // MMYY
	PANSequenceNumber string `json:"panSequenceNumber"`
	CVN               int    `json:"cvn"`
}

// OpenTokenProfile decrypts an encryptedTokenProfile (the device's side).
func OpenTokenProfile(dekHex, sealed string) (TokenProfile, error) {
	var p TokenProfile
	err := openJSON(dekHex, sealed, &p)
	return p, err
}

// sealJSON encrypts v's JSON under a data encryption key (hex): nonce || AES-256-GCM, base64.
func sealJSON(dekHex string, v any) (string, error) {
	key, err := hex.DecodeString(dekHex)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(v)
	blk, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, b, nil)), nil
}

// OpenCredentials decrypts what SealCredentials made (the device's side).
func OpenCredentials(dekHex, sealed string) ([]Credential, error) {
	var cs []Credential
	err := openJSON(dekHex, sealed, &cs)
	return cs, err
}

func openJSON(dekHex, sealed string, dst any) error {
	key, err := hex.DecodeString(dekHex)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return err
	}
	if len(raw) < gcm.NonceSize() {
		return errShortCiphertext
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, dst)
}

var errShortCiphertext = errors.New("pba: ciphertext too short")

// deriveCredentials computes the session keys of ATCs [from, from+n).
func deriveCredentials(imkHex, tokenPAN string, from, n int) ([]Credential, error) {
	mk, err := cardcrypto.DeriveICCMasterKeyOptionA(config.Key(imkHex), tokenPAN, "00")
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	out := make([]Credential, 0, n)
	for atc := from; atc < from+n; atc++ {
		sk, err := cardcrypto.DeriveCommonSessionKey(mk, []byte{byte(atc >> 8), byte(atc)})
		if err != nil {
			return nil, err
		}
		out = append(out, Credential{ATC: atc, SessionKey: hex.EncodeToString(sk)})
		clear(sk)
	}
	return out, nil
}

// maxATC is the highest ATC (two bytes): a token that reaches it must be digitized again.
const maxATC = 0xFFFF

// credentialsLeft counts a device token's delivered credentials not used yet.
func credentialsLeft(r reader, id string) int {
	rec, ok := r.PBA(ledger.PBAWindowKey(id))
	if !ok {
		return 0
	}
	lo, hi, ok := ledger.DecodePBAWindow(rec.Data)
	if !ok {
		return 0
	}
	lt, _ := r.Token(id)
	first := max(lo, lt.HighestATC+1)
	return max(0, hi-first+1)
}

// prepareCredentials draws the next window of a device token outside the engine (the keys and
// the encryption are not the ledger's business); deliverCredentials books it if nothing moved
// meanwhile.
func (s *Service) prepareCredentials(pt PaymentToken) (TransactionCredentials, *apiError) {
	st := s.eng.State()
	key, ok := get[mobileKey](stateView{st}, mobileKeyKey(pt.InstallationID))
	if !ok {
		return TransactionCredentials{}, fromRefusal(errNotRegistered)
	}
	lt, ok := st.Token(pt.ID)
	if !ok {
		return TransactionCredentials{}, fromRefusal(errTokenNotFound)
	}
	n := s.cfg.CredentialsPerReplenish
	from := max(pt.NextATC, 1)
	if from+n-1 > maxATC {
		return TransactionCredentials{}, fromRefusal(errNoCredentials)
	}
	prog := s.programKeys(pt.Institution)
	cs, err := deriveCredentials(prog, lt.PAN, from, n)
	if err != nil {
		return TransactionCredentials{}, errUnavailable
	}
	sealed, err := SealCredentials(key.DataEncryptionKey, cs)
	for i := range cs {
		cs[i].SessionKey = ""
	}
	if err != nil {
		return TransactionCredentials{}, errUnavailable
	}
	return TransactionCredentials{PaymentTokenID: pt.ID, FromATC: from, ToATC: from + n - 1, CVN: int(DeviceCVN.Byte()),
		Encrypted: sealed}, nil
}

// deliverCredentials books a window: the ATCs up to tc.ToATC become payable (the unused ones
// delivered before stay so), and with asMessage the credentials go to the device as a message.
// A token that moved meanwhile (another delivery, a suspension, a deletion) is refused.
func deliverCredentials(tc TransactionCredentials, asMessage bool, activate bool) command[PaymentToken] {
	return command[PaymentToken]{apply: func(tx *ledger.Tx, env *ledger.Env) (PaymentToken, *ledger.Refusal) {
		pt, lt, r := loadToken(tx, tc.PaymentTokenID)
		if r != nil {
			return pt, r
		}
		if max(pt.NextATC, 1) != tc.FromATC {
			return pt, conflict("CREDENTIALS_CHANGED", "the token's credentials changed meanwhile; ask again")
		}
		want := authz.TokenActive
		if activate {
			want = authz.TokenInactive
		}
		if lt.State != want {
			return pt, errNotActive
		}
		if activate {
			if _, r := tx.SetTokenState(pt.ID, authz.TokenActive); r != nil {
				panic("pba: activation of a live token: " + r.Error())
			}
			pt.Provisioned = true
			tx.DeletePBA(pendingProvisioningKey(pt.ID))
			mark(tx, activeDeviceKey(pt.ID))
			setJob(tx, jobTSP, pt.ID, targetActive, env.Now)
		}
		lo := tc.FromATC
		if rec, ok := tx.PBA(ledger.PBAWindowKey(pt.ID)); ok {
			if l, h, ok := ledger.DecodePBAWindow(rec.Data); ok && l <= h {
				lo = l
			}
		}
		tx.PutPBA(ledger.PBARecord{Key: ledger.PBAWindowKey(pt.ID), Data: ledger.EncodePBAWindow(lo, tc.ToATC)})
		pt.NextATC = tc.ToATC + 1
		put(tx, tokenKey(pt.ID), pt)
		if activate {
			enqueue(tx, pt.InstallationID, MsgTokenUpdated, pt.ID, map[string]string{"status": "ACTIVE"}, env.Now.UnixMilli())
		}
		if asMessage {
			enqueue(tx, pt.InstallationID, MsgRemote, pt.ID, map[string]any{"action": "REPLENISH", "transactionCredentials": tc},
				env.Now.UnixMilli())
		}
		return pt, nil
	}}
}

func activeDeviceKey(id string) string { return "dv/" + id }

func (s *Service) programKeys(inst string) string {
	for _, p := range s.programs {
		if p.Name == s.insts[inst].program {
			return p.Keys.IMKAC
		}
	}
	return ""
}

// hConfirmProvisioning is M9: SUCCESS activates the device token and delivers its first
// credentials (the answer carries them); FAILURE deletes it (no retry: digitize again).
func (s *Service) hConfirmProvisioning(c *call) (any, *apiError) {
	var in struct {
		PaymentTokenID string `json:"paymentTokenId"`
		Status         string `json:"status"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	pt, aerr := s.ownToken(c, in.PaymentTokenID, KindDevice)
	if aerr != nil {
		return nil, aerr
	}
	switch in.Status {
	case "SUCCESS":
	case "FAILURE":
		return s.changeTokenAudited(c.who, pt.ID, KindDevice, ChangeDelete, "provisioning_failure")
	case "":
		return nil, missing("status")
	default:
		return nil, errBad("INVALID_FIELD", "status", "status must be SUCCESS or FAILURE")
	}
	if pt.Provisioned {
		return nil, &apiError{409, "ALREADY_PROVISIONED", "the token's provisioning was confirmed already", ""}
	}
	tc, aerr := s.prepareCredentials(pt)
	if aerr != nil {
		return nil, aerr
	}
	cmd := deliverCredentials(tc, false, true)
	cmd.audit = func(tx *ledger.Tx, env *ledger.Env, pt PaymentToken) {
		tx.Audit(auditRecord(c.who, env.Now, "pba.token.provisioned", "paymentToken", pt.ID, tokenAudit(pt, authz.TokenActive)))
	}
	pt, aerr = execT(s, cmd)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"paymentTokenId": pt.ID, "status": "ACTIVE", "transactionCredentials": tc}, nil
}

// hReplenish is UCP::replenishCredentials: a new window for an active device token.
func (s *Service) hReplenish(c *call) (any, *apiError) {
	var in struct {
		PaymentTokenID string `json:"paymentTokenId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	// The switch may be replenishing the same token by itself at this moment: the delivery that
	// lost the race is drawn again from the new window, a few times.
	for attempt := 0; ; attempt++ {
		pt, aerr := s.ownToken(c, in.PaymentTokenID, KindDevice)
		if aerr != nil {
			return nil, aerr
		}
		tc, aerr := s.prepareCredentials(pt)
		if aerr != nil {
			return nil, aerr
		}
		cmd := deliverCredentials(tc, false, false)
		cmd.audit = func(tx *ledger.Tx, env *ledger.Env, pt PaymentToken) {
			tx.Audit(auditRecord(c.who, env.Now, "pba.token.replenished", "paymentToken", pt.ID,
				map[string]int{"fromAtc": tc.FromATC, "toAtc": tc.ToATC}))
		}
		_, aerr = execT(s, cmd)
		if aerr != nil && aerr.Code == "CREDENTIALS_CHANGED" && attempt < replenishAttempts {
			continue
		}
		if aerr != nil {
			return nil, aerr
		}
		return map[string]any{"transactionCredentials": tc}, nil
	}
}

// replenishAttempts bounds the redraws of a replenishment that raced another delivery; past it
// the answer is 409 CREDENTIALS_CHANGED and the device asks again.
const replenishAttempts = 3

// autoReplenish delivers credentials to the active device tokens that have fewer than the
// threshold left (job runner).
func (s *Service) autoReplenish() {
	st := s.eng.State()
	for _, rec := range st.PBAList("dv/") {
		id := lastPart(rec.Key)
		if tokenState(stateView{st}, id) != authz.TokenActive || credentialsLeft(stateView{st}, id) >= s.cfg.CredentialsThreshold {
			continue
		}
		pt, ok := get[PaymentToken](stateView{st}, tokenKey(id))
		if !ok {
			continue
		}
		tc, aerr := s.prepareCredentials(pt)
		if aerr != nil {
			continue
		}
		cmd := deliverCredentials(tc, true, false)
		cmd.audit = func(tx *ledger.Tx, env *ledger.Env, pt PaymentToken) {
			tx.Audit(auditRecord(jobActor, env.Now, "pba.token.replenished", "paymentToken", pt.ID,
				map[string]any{"fromAtc": tc.FromATC, "toAtc": tc.ToATC, "automatic": true}))
		}
		if _, aerr := execT(s, cmd); aerr != nil && aerr.Code != "CREDENTIALS_CHANGED" {
			s.log.Warn("pba automatic replenishment not booked", "token", id, "code", aerr.Code)
		}
	}
}

// pkCertificate is the certificate getPkCertificate hands out: the token service's in a
// deployment with one (an adapter), otherwise a self-signed certificate this process makes once.
func (s *Service) pkCertificate() string {
	if p, ok := s.adapters.TokenService.(interface{ PkCertificate() string }); ok {
		return p.PkCertificate()
	}
	localCertOnce.Do(func() {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cardswitch pba local token service"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		localCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	return localCert
}

var (
	localCertOnce sync.Once
	localCert     string
)
