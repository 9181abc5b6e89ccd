package mgmt

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	otherOnce sync.Once
	otherKey  *rsa.PrivateKey
)

func testOtherKey(t *testing.T) *rsa.PrivateKey {
	otherOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		otherKey = k
	})
	return otherKey
}

func sealWith(alg jose.KeyAlgorithm, pub *rsa.PublicKey, plain string) (string, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: pub}, nil)
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt([]byte(plain))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func sealFor(pub *rsa.PublicKey, plain string) (string, error) {
	return sealWith(jose.RSA_OAEP_256, pub, plain)
}
func sealRSA15(pub *rsa.PublicKey, plain string) (string, error) {
	return sealWith(jose.RSA1_5, pub, plain)
}
func sealOAEP1(pub *rsa.PublicKey, plain string) (string, error) {
	return sealWith(jose.RSA_OAEP, pub, plain)
}
