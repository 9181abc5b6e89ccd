package wal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk layout (little endian).
//
// A segment is a file of Options.SegmentBytes, written in full with zeros (or recycled from a
// truncated segment) before its first record, so that appending to it changes neither its size
// nor its block map. It starts with a header, written together with its first record:
//
//	0  magic "CSWAL\x00\x00\x01" (8 bytes: name, format version)
//	8  segment number (uint64, the file's name)
//	16 sequence number of the segment's first record (uint64)
//	24 reserved, zero (uint32)
//	28 CRC-32C of bytes 0..27 (uint32)
//
// then records, one per Append, back to back:
//
//	0  body length (uint32)
//	4  CRC-32C of bytes 8..23 and of the body (uint32)
//	8  segment number, low 32 bits (uint32): a record left by an earlier use of a recycled file
//	   does not match
//	12 data key id (1 byte)
//	13 record format (1 byte, 1)
//	14 reserved, zero (2 bytes)
//	16 sequence number (uint64): the first record of a log is 1, each next one +1
//	24 body: a 12-byte random nonce and the AES-256-GCM ciphertext of the payload, with bytes
//	   8..23 as additional data (so a record cannot be moved to another position or segment)
//
// A random nonce, not one derived from the sequence: after a torn tail is dropped, its sequence
// numbers are given again to other payloads under the same key.
const (
	segHeaderBytes = 32
	recHeaderBytes = 24
	nonceBytes     = 12
	tagBytes       = 16
	recordFormat   = 1
	// RecordOverheadBytes is what a record adds to its payload on disk.
	RecordOverheadBytes = recHeaderBytes + nonceBytes + tagBytes
)

var segMagic = [8]byte{'C', 'S', 'W', 'A', 'L', 0, 0, 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("wal: a data key must be 32 bytes (AES-256)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wal: data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// appendSegHeader appends a segment header.
func appendSegHeader(dst []byte, num, firstSeq uint64) []byte {
	start := len(dst)
	dst = append(dst, segMagic[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	dst = binary.LittleEndian.AppendUint64(dst, firstSeq)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:start+28], castagnoli))
}

// parseSegHeader reads a segment header; ok is false when there is none (a segment never
// written, or one whose first write was torn).
func parseSegHeader(b []byte, num uint64) (firstSeq uint64, ok bool) {
	if len(b) < segHeaderBytes || [8]byte(b[:8]) != segMagic {
		return 0, false
	}
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:32]) {
		return 0, false
	}
	if binary.LittleEndian.Uint64(b[8:16]) != num {
		return 0, false // left by an earlier use of a recycled file
	}
	firstSeq = binary.LittleEndian.Uint64(b[16:24])
	return firstSeq, firstSeq != 0
}

// appendRecord seals payload as record seq of segment num and appends it to dst.
func appendRecord(dst []byte, aead cipher.AEAD, keyID byte, num, seq uint64, payload []byte) ([]byte, error) {
	start := len(dst)
	var hdr [recHeaderBytes]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(nonceBytes+len(payload)+aead.Overhead()))
	binary.LittleEndian.PutUint32(hdr[8:12], uint32(num))
	hdr[12], hdr[13] = keyID, recordFormat
	binary.LittleEndian.PutUint64(hdr[16:24], seq)
	dst = append(dst, hdr[:]...)
	nonceAt := len(dst)
	dst = append(dst, make([]byte, nonceBytes)...)
	if _, err := rand.Read(dst[nonceAt:]); err != nil {
		return dst[:start], fmt.Errorf("wal: nonce: %w", err)
	}
	dst = aead.Seal(dst, dst[nonceAt:nonceAt+nonceBytes], payload, dst[start+8:start+recHeaderBytes])
	binary.LittleEndian.PutUint32(dst[start+4:start+8], crc32.Checksum(dst[start+8:], castagnoli))
	return dst, nil
}

// record is one record found in a segment: its sequence number and where it lies.
type record struct {
	seq      uint64
	keyID    byte
	off, end int // the whole record in the segment's bytes
}

// parseRecord reads the record at off in a segment's bytes. ok is false when there is no valid
// record of segment num there: zeros, a torn write, or a record of an earlier use of the file.
func parseRecord(b []byte, off int, num uint64) (r record, ok bool) {
	if off < 0 || len(b)-off < recHeaderBytes {
		return record{}, false
	}
	h := b[off : off+recHeaderBytes]
	n := int(binary.LittleEndian.Uint32(h[0:4]))
	if n < nonceBytes+tagBytes || n > len(b)-off-recHeaderBytes {
		return record{}, false
	}
	end := off + recHeaderBytes + n
	if crc32.Checksum(b[off+8:end], castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
		return record{}, false
	}
	if binary.LittleEndian.Uint32(h[8:12]) != uint32(num) || h[13] != recordFormat {
		return record{}, false
	}
	return record{seq: binary.LittleEndian.Uint64(h[16:24]), keyID: h[12], off: off, end: end}, true
}

// open decrypts a record's payload in place (b is the caller's buffer).
func openRecord(b []byte, r record, aead cipher.AEAD) ([]byte, error) {
	body := b[r.off+recHeaderBytes : r.end]
	return aead.Open(body[nonceBytes:nonceBytes], body[:nonceBytes], body[nonceBytes:], b[r.off+8:r.off+recHeaderBytes])
}
