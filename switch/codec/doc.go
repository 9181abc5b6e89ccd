// Package codec is the iso87 wire profile of cardswitch (contract §2): ISO 8583:1987 with ASCII
// digits, hex bitmaps and ASCII LL/LLL length prefixes. It turns message bytes (without the 2-byte
// frame prefix, which switch/server handles) into an authz.Request and an authz.Response back into
// bytes, builds requests and reads responses for clients (simulators, bench, tests), and masks what
// reaches a log line.
//
// # Spec and hot path
//
// Spec, a moov-io/iso8583 MessageSpec, is the single description of the profile. At start-up it is
// compiled into a flat per-field table (length prefix, maximum, binary or not) that drives a
// purpose-built scanner (Decode, DecodeResponse) and writer (Encode, BuildRequest). The moov Message
// API is not used on the hot path because it allocates a map, a field object and several slices per
// field (see BenchmarkDecodeMoovMessage); the scanner allocates only the Request, one copy of the
// message text that all non-secret fields share, and one value per secret field. The tests use the
// moov Message API with the same Spec as an independent implementation of the profile: every
// message the codec writes must unpack with moov to the same field values, every message moov packs
// must decode with the codec, and the fuzz target checks that whatever Decode accepts moov accepts
// with equal values.
//
// # Errors
//
// A message that does not conform yields a *FormatError naming the field and a Reason, never the
// field's value. When the MTI is a known request MTI and field 11 was readable, FormatError.Request
// holds the partially decoded request so that the caller can answer with field 39 "30"
// (EncodeFormatError); otherwise the message is dropped (FormatError.Answerable).
//
// # Secrets in memory
//
// The strings of a decoded Request share one copy of the message text, in which the PAN (2),
// track data (35, 36, 45), PIN block (52), ICC data (55), extended PAN (34) and the CVC2 (field 48
// subelement 92) are overwritten with '*'. Those values get their own allocations, so keeping a
// non-secret field such as the RRN (e.g. in an idempotency index) does not keep a PAN or a CVC2
// alive in memory.
package codec
