package loyalty

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// The partner's side of the initialization tokens: what a partner backend signs. cardswitch does
// not call these; the demo, the simulator and the tests sign with them as a partner would.

// SignToken signs claims (any JSON object) with RS256 under priv; certDER, when given, goes into
// the x5c header (the SDK token's certificate chain, leaf first).
func SignToken(priv *rsa.PrivateKey, claims any, certDER ...[]byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if len(certDER) > 0 {
		chain := make([]string, len(certDER))
		for i, d := range certDER {
			chain[i] = base64.StdEncoding.EncodeToString(d)
		}
		opts = opts.WithHeader("x5c", chain)
	}
	return signWith(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, claims, opts)
}

func signWith(key jose.SigningKey, claims any, opts *jose.SignerOptions) (string, error) {
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		return "", fmt.Errorf("loyalty: signer: %w", err)
	}
	payload, err := jsonMarshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("loyalty: sign: %w", err)
	}
	return obj.CompactSerialize()
}
