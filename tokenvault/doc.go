// Package tokenvault is the issuer's token vault: every clear card number and card secret of
// cardswitch passes through it.
//
//   - Secrets: PAN, CVC2, PVV and PIN are string types that redact themselves wherever a value
//     can leak (fmt verbs, slog, JSON, text marshalling, errors built from them); Reveal gives the
//     clear value to the few places that need it (the journal's sealed rows, the encrypted
//     card-data answer, the security checks).
//   - Lookup: the keyed PAN hash (HMAC-SHA-256 under the store's lookup key) that card and token
//     rows are indexed by, so no index holds a PAN in clear; the lookup key file, sealed under the
//     data key.
//   - Issue: drawing a card number under a program's BIN and deriving its CVC2 and PVV, for the
//     management API and for provisioning alike.
//   - Resolution: PAN or token PAN -> card (and token), over an index the ledger provides.
//   - Token lifecycle: which token state changes are allowed.
//
// The vault does no I/O except reading and writing the lookup key file at start, and never logs.
// It does not import the ledger: the ledger imports it and hands it its indexes (see
// docs/decisions/0002-token-vault.md).
package tokenvault
