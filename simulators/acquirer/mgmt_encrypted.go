package acquirer

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

// callEncrypted sends in as an encrypted request (contract §4: RSA-OAEP-256 to the server key,
// A256GCM) and decrypts the answer into out: the partner side of routes that take encrypted
// requests only, such as ordering a plastic.
func (m *Mgmt) callEncrypted(method, path string, in, out any) error {
	pub, kid, err := m.serverKey()
	if err != nil {
		return err
	}
	hdr, key, err := m.encHeaders()
	if err != nil {
		return err
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: kid},
		(&jose.EncrypterOptions{}).WithContentType("application/json"))
	if err != nil {
		return err
	}
	plain, err := json.Marshal(in)
	if err != nil {
		return err
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return err
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		return err
	}
	var env struct{ Payload string }
	if err := m.call(method, path, hdr, map[string]string{"payload": compact}, &env); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return openEnvelope(key, env, out)
}
