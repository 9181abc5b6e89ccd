package journal

import (
	"fmt"

	"github.com/cardswitch/cardswitch/ledger"
)

// The archive (ledger/archive) keeps auth records in the row encoding of this file's package,
// so that one layout, with its format rules, serves the hot store and the archive.

// AppendAuthRow appends the binary row of an auth record to dst.
func AppendAuthRow(dst []byte, a *ledger.Auth) ([]byte, error) {
	return encodeRow(dst, a)
}

// DecodeAuthRow decodes a binary auth row written by AppendAuthRow.
func DecodeAuthRow(b []byte) (ledger.Auth, error) {
	row, err := decodeRow("auth", b, nil)
	if err != nil {
		return ledger.Auth{}, err
	}
	a, ok := row.(*ledger.Auth)
	if !ok {
		return ledger.Auth{}, fmt.Errorf("journal: decode auth: got %T", row)
	}
	return *a, nil
}
