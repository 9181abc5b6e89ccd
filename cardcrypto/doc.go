// Package cardcrypto holds the card-security algorithms of an issuer: TDES and ISO/IEC 9797-1
// MAC algorithm 3, EMV key derivation (ICC master key Option A/B, EMV common session key,
// Mastercard SKD), application cryptograms (ARQC/TC/AAC) and ARPC for Visa CVN 10/18/22 and
// Mastercard CVN 16/17/20/21, CVV/CVC/CVV2/iCVV, ISO 9564 PIN blocks (format 0 under a TDES
// ZPK, format 4 under AES), Visa PVV, IBM 3624 PIN offsets and Luhn check digits. The sub-package
// tlv parses and builds the EMV BER-TLV of ISO 8583 field 55.
//
// Everything here is a pure function of its arguments: no I/O, no clock, no randomness (format 4
// takes its random bytes from the caller), no logging, no goroutines, standard library only.
// Errors wrap the sentinel values in errors.go and never carry key, PIN, PAN or cryptogram
// material. Verification functions compare with crypto/subtle. Derived keys are wiped after use
// where the package owns them (Go gives no guarantee about copies the runtime made).
//
// # Keys
//
// Issuer keys (IMK-AC, CVK, PVK, ZPK) are double-length TDES keys K = KL||KR, used as
// TDES-EDE2 E_KL(D_KR(E_KL(x))). Derived keys (ICC MK, session keys) are odd-parity adjusted, as
// EMV requires; DES ignores parity, so cryptograms and KCVs do not depend on it.
//
// # Cryptogram versions
//
//	CVN                 MK derivation  AC key              data after the 33 bytes      pad  ARPC
//	Visa CVN 10 (0A)    Option A       ICC MK              CVR = IAD[3:7]               1    method 1, ICC MK
//	Visa CVN 18 (12)    Option A/B     EMV CSK             whole IAD                    2    method 2, SK
//	Visa CVN 22 (22)    Option A/B     EMV CSK             whole IAD                    2    method 2, SK
//	MC CVN 16 (10)      Option A       MC SKD (ATC,UN)     CVR = IAD[2:8]               2    method 1, ICC MK
//	MC CVN 17 (11)      Option A       MC SKD (ATC,UN)     CVR || counters IAD[10:18]   2    method 1, ICC MK
//	MC CVN 20 (14)      Option A       EMV CSK             CVR                          2    method 1, SK
//	MC CVN 21 (15)      Option A       EMV CSK             CVR || counters              2    method 1, SK
//
// The 33 bytes are the EMV Book 2 §8.1.1 minimum set: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36.
// "Option A/B" is Option A for PANs of up to 16 digits and Option B above. For M/Chip Advance
// IADs of 26 or 28 bytes the counters are taken as 16 bytes (IAD[10:26]); no published vector
// covers that case.
//
// A typical issuer flow for field 55:
//
//	icc, err := tlv.Parse(field55)
//	in, err := cardcrypto.ACInputFromTLV(pan, psn, icc)
//	cvn, err := cardcrypto.CVNFromIAD(in.IAD, program.Scheme)
//	arqc, _ := icc.Get(tlv.TagApplicationCryptogram)
//	ok, err := cardcrypto.VerifyARQC(cvn, imkAC, in, arqc)
//	tag91, err := cardcrypto.IssuerAuthenticationData(cvn, imkAC, cardcrypto.ARPCInput{
//		PAN: pan, PSN: psn, ATC: in.ATC, UN: in.UN, ARQC: arqc, ARC: arc, CSU: csu})
//	resp55, err := tlv.Append(nil, tlv.TagIssuerAuthenticationData, tag91)
//
// # Where the test vectors come from
//
// The tests carry every vector of the project's shared vectors/card-crypto.md, each row named
// after its source:
//
//   - ISO/IEC 9797-1 Annex B (MAC algorithm 3, padding 1 via RustCrypto/MACs retail-mac, padding 2
//     via a published "Official ISO 9797-1 Annex B test vectors" file).
//   - pyemv (github.com/knovichikhin/pyemv @ cf6b82d7): tests/test_kd_hsm.py, test_ac_hsm.py,
//     test_cvn_hsm.py and the docstrings of pyemv/kd.py, ac.py, cvn.py: Option A/B, CSK, MC SKD,
//     ARQC for every CVN above, ARPC methods 1 and 2.
//   - psec (github.com/knovichikhin/psec @ 90ccbf3a): tests/test_cvv.py, test_pin.py,
//     test_pinblock.py and docstrings: CVV, PVV, IBM 3624 offset, ISO 9564 formats 0 and 4.
//   - The classic Visa CVV sample table (CVKA 0123456789ABCDEF, CVKB FEDCBA9876543210).
//   - openemv/pinblock test/pinblock_format4_test.c: format 4 PIN and PAN field encodings.
//   - IBM 4758 CCA Basic Services R2.54 Appendix E: a decimalisation-table example.
//
// Some intermediate keys in those rows are "derived": the source publishes only their 2-byte
// check value, which the tests check too. There are no scheme-published ARQC vectors (Visa VIS
// and M/Chip are licence-restricted); the ARQC/ARPC rows rest on pyemv and jPOS agreeing. No
// published iCVV vector exists; iCVV is the CVV function with service code 999.
package cardcrypto
