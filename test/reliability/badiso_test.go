package reliability

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// badInputsTried counts every bad input the catalog tests sent (ISO and HTTP), for the report.
var badInputsTried = struct{ iso, http int }{}

// outcome is the documented answer to a bad ISO message (contract §2, docs/wire-profile.md §7).
type outcome int

const (
	answer30 outcome = iota // the response MTI, field 39 "30", field 11 echoed
	dropped                 // no answer, counted in cardswitch_iso_dropped_total
)

// edit unpacks a valid message with moov-io (same Spec), lets f change it and packs it again.
func edit(t *testing.T, msg []byte, f func(m *iso8583.Message)) []byte {
	t.Helper()
	m := iso8583.NewMessage(codec.Spec)
	if err := m.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fieldOffset finds where field id's value starts in a message built by the codec, by packing
// the message without it and with it (the codec writes fields in order).
func fieldValue(t *testing.T, msg []byte, id int) string {
	t.Helper()
	m := iso8583.NewMessage(codec.Spec)
	if err := m.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	v, err := m.GetString(id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// replaceOnce replaces the first occurrence of old (which must be there) in msg.
func replaceOnce(t *testing.T, msg []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(msg, []byte(old)) {
		t.Fatalf("%q not in message", old)
	}
	return bytes.Replace(msg, []byte(old), []byte(new), 1)
}

// setBit sets a bit of the primary bitmap (hex text at bytes 4..20).
func setBit(t *testing.T, msg []byte, bit int) []byte {
	t.Helper()
	out := append([]byte(nil), msg...)
	hexBitmap := string(out[4:20])
	v, err := strconv.ParseUint(hexBitmap, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	v |= 1 << (64 - bit)
	copy(out[4:20], fmt.Sprintf("%016X", v))
	return out
}

var droppedMetric = regexp.MustCompile(`(?m)^cardswitch_iso_dropped_total\{reason="undecodable"\} (\d+)`)

func (s *sw) droppedCount() int {
	s.t.Helper()
	r := s.must(200, s.do("GET", "/metrics", nil, nil))
	m := droppedMetric.FindSubmatch(r.body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestBadISOInputCatalog: every malformed message gets its documented answer (30 with the MTI
// and STAN echoed, or dropped and counted), changes nothing in the ledger, and the connection
// keeps serving (contract §2).
func TestBadISOInputCatalog(t *testing.T) {
	s := startSwitch(t)
	c := s.issue("100.00")

	type tc struct {
		name string
		msg  []byte
		want outcome
		stan string // for answer30: the STAN the answer must echo
		mti  string // for answer30: the response MTI
	}
	var cases []tc
	add := func(name string, r *authz.Request, want outcome, f func([]byte) []byte) {
		msg := f(s.build(r))
		cases = append(cases, tc{name: name, msg: msg, want: want, stan: r.STAN, mti: codec.ResponseMTI(r.MTI)})
	}
	auth := func() *authz.Request { return s.req("0100", "000000", c.pan, c.expiry, 100) }
	withOriginal := func(mti string) *authz.Request {
		orig := auth()
		r := s.req(mti, "000000", c.pan, c.expiry, 100)
		r.Original = &authz.OriginalData{MTI: "0100", STAN: orig.STAN, F7: orig.F7, AcquirerID: "00000123456"}
		if mti == "0400" || mti == "0420" {
			r.ReplacementAmountMinor, r.HasReplacement = 0, false
		}
		return r
	}

	// Truncated messages (inside a correct frame).
	add("truncated: last byte cut", auth(), answer30, func(b []byte) []byte { return b[:len(b)-1] })
	add("truncated: cut inside field 43", auth(), answer30, func(b []byte) []byte {
		i := bytes.Index(b, []byte("CARDSWITCH TEST SHOP"))
		return b[:i+5]
	})
	add("truncated: cut inside the bitmap", auth(), dropped, func(b []byte) []byte { return b[:12] })
	add("truncated: cut before field 11", auth(), dropped, func(b []byte) []byte { return b[:4+16+2+10] })
	add("truncated: MTI only", auth(), dropped, func(b []byte) []byte { return b[:4] })
	add("truncated: 3 bytes", auth(), dropped, func(b []byte) []byte { return b[:3] })

	// Bitmaps.
	add("bad bitmap: not hex", auth(), dropped, func(b []byte) []byte {
		out := append([]byte(nil), b...)
		copy(out[4:20], "ZZZZZZZZZZZZZZZZ")
		return out
	})
	add("bad bitmap: announces a field that is not there", auth(), answer30, func(b []byte) []byte { return setBit(t, b, 64) })
	// Bit 65 announces a third bitmap right after the secondary one, so no field can be located:
	// a bitmap fault, dropped (docs/wire-profile.md §7).
	add("bit 65 set (third bitmap)", auth(), dropped, func(b []byte) []byte {
		out := setBit(t, b, 1)
		return append(out[:20:20], append([]byte("8000000000000000"), out[20:]...)...)
	})

	// Numeric fields.
	add("non-numeric amount", auth(), answer30, func(b []byte) []byte {
		return replaceOnce(t, b, "000000000100", "0000000001X0")
	})
	add("non-numeric processing code", auth(), answer30, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(3, "00A000") })
	})
	add("non-numeric field 49", auth(), answer30, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(49, "EUR") })
	})
	add("non-numeric field 7", auth(), answer30, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(7, "01021504XX") })
	})
	add("non-numeric STAN", auth(), dropped, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(11, "12345A") })
	})
	add("non-digit LL prefix of field 2", auth(), dropped, func(b []byte) []byte {
		out := append([]byte(nil), b...)
		copy(out[20:22], "1A")
		return out
	})
	add("field 2 LL over the maximum", auth(), dropped, func(b []byte) []byte {
		out := append([]byte(nil), b...)
		copy(out[20:22], "99")
		return out
	})
	add("non-ASCII byte in field 43", auth(), answer30, func(b []byte) []byte {
		return replaceOnce(t, b, "CARDSWITCH", "CARD\xffWITCH")
	})
	add("bytes after the last field", auth(), answer30, func(b []byte) []byte { return append(b, "XYZ"...) })

	// MTIs.
	for _, mti := range []string{"0300", "0110", "0810", "9999", "01A0", "0000"} {
		mti := mti
		add("unknown MTI "+mti, auth(), dropped, func(b []byte) []byte {
			out := append([]byte(nil), b...)
			copy(out[:4], mti)
			return out
		})
	}
	add("garbage", auth(), dropped, func([]byte) []byte { return []byte("garbage") })

	// Missing mandatory fields, per MTI.
	for _, mti := range []string{"0100", "0200", "0120", "0220", "0400", "0420", "0800", "0101", "0401"} {
		var fields []int
		var mk func() *authz.Request
		switch mti {
		case "0100", "0200", "0120", "0101":
			fields, mk = []int{2, 3, 4, 7, 11, 49}, auth
			if mti != "0100" {
				m := mti
				mk = func() *authz.Request { r := auth(); r.MTI = m; return r }
			}
		case "0220", "0400", "0420", "0401":
			m := mti
			fields, mk = []int{2, 3, 4, 7, 11, 49, 90}, func() *authz.Request { return withOriginal(m) }
		case "0800":
			fields = []int{7, 11, 70}
			mk = func() *authz.Request {
				stan, _, f7 := s.next()
				return &authz.Request{MTI: "0800", STAN: stan, F7: f7, NetworkCode: "001", AcquirerID: "123456"}
			}
		}
		for _, f := range fields {
			f := f
			want := answer30
			if f == 11 {
				want = dropped
			}
			add(fmt.Sprintf("%s without field %d", mti, f), mk(), want, func(b []byte) []byte {
				return edit(t, b, func(m *iso8583.Message) { m.UnsetField(f) })
			})
		}
	}

	// Field 48.
	for _, f48 := range []string{
		"92031",                             // CVC2 cut short
		"920312",                            // length says 3, 2 given
		"9X03123",                           // non-digit ID
		"92AB123",                           // non-digit length
		"9203AB1",                           // CVC2 not digits
		"92031239203123",                    // CVC2 repeated
		"2004abcd",                          // indicator longer than 1
		"20019",                             // indicator not 1, 2 or 3
		"2133" + strings.Repeat("A", 33),    // agreement over 32
		"2205abcde",                         // terms not MIN|MAX|DAYS|DATE
		"2222" + "5.0|49.99|30|31.12.2027",  // amount with one decimal
		"2222" + "5.00|49.99|30|32.12.2027", // day 32
		"9",                                 // one character
	} {
		v := f48
		add("malformed field 48 "+strconv.Quote(v), auth(), answer30, func(b []byte) []byte {
			return edit(t, b, func(m *iso8583.Message) { m.Field(48, v) })
		})
	}
	// Field 55 and 52.
	add("odd-length field 55", auth(), answer30, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(55, "9F2608A") })
	})
	add("non-hex field 55", auth(), answer30, func(b []byte) []byte {
		return edit(t, b, func(m *iso8583.Message) { m.Field(55, "9F26ZZ") })
	})
	pinReq := auth()
	pinReq.PINBlock = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	add("non-hex field 52", pinReq, answer30, func(b []byte) []byte {
		return replaceOnce(t, b, "0102030405060708", "01020304050607GZ")
	})

	before := s.ledgerState()
	rc := s.dial()
	for _, k := range cases {
		droppedBefore := s.droppedCount()
		rc.write(k.msg)
		// An echo right behind it: the next frame must answer the bad message (30) or, when it
		// was dropped, be the echo's own answer. Both prove that the connection still serves.
		echo := s.echo()
		echoSTAN := fieldValue(t, echo, 11)
		rc.write(echo)
		out, err := rc.read(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no answer at all (connection silent): %v", k.name, err)
		}
		r, err := codec.DecodeResponse(out)
		if err != nil {
			t.Fatalf("%s: answer does not decode: %v", k.name, err)
		}
		switch k.want {
		case answer30:
			if r.MTI != k.mti || r.ResponseCode != "30" || r.STAN != k.stan {
				t.Errorf("%s: got %s 39=%s stan=%s, want %s 30 stan=%s", k.name, r.MTI, r.ResponseCode, r.STAN, k.mti, k.stan)
				if r.MTI != "0810" {
					rc.read(5 * time.Second) // the echo's answer
				}
				continue
			}
			out, err = rc.read(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: echo after it not answered: %v", k.name, err)
			}
			if r, _ = codec.DecodeResponse(out); r == nil || r.MTI != "0810" || r.STAN != echoSTAN {
				t.Fatalf("%s: the answer after 30 is not the echo's: %+v", k.name, r)
			}
		case dropped:
			if r.MTI != "0810" || r.STAN != echoSTAN {
				t.Errorf("%s: dropped message was answered: %s 39=%s stan=%s", k.name, r.MTI, r.ResponseCode, r.STAN)
				rc.read(5 * time.Second) // the echo's answer
				continue
			}
			if got := s.droppedCount(); got != droppedBefore+1 {
				t.Errorf("%s: dropped counter %d -> %d, want +1", k.name, droppedBefore, got)
			}
		}
		s.waitEngineIdle()
		if after := s.ledgerState(); after != before {
			t.Fatalf("%s changed the ledger:\nbefore %s\nafter  %s", k.name, before, after)
		}
	}
	badInputsTried.iso += len(cases)

	// Transport-level bad input, each on a connection of its own; the catalog connection and new
	// ones keep working.
	transport := []struct {
		name  string
		send  func(c net.Conn)
		close bool // the switch closes the connection
	}{
		{"oversize frame (over iso.maxFrameBytes)", func(c net.Conn) {
			c.Write(append([]byte{0x23, 0x28}, make([]byte, 9000)...)) // 9000 > 8192
		}, true},
		{"length prefix 65535 with 10 bytes", func(c net.Conn) { c.Write([]byte{0xFF, 0xFF, '0', '1', '0', '0', 0, 0, 0, 0, 0, 0}) }, true},
		{"length prefix larger than the data, then close", func(c net.Conn) {
			c.Write(append([]byte{0x01, 0xF4}, s.build(auth())...)) // announces 500
			c.(*net.TCPConn).CloseWrite()
		}, true},
		{"half a length prefix, then close", func(c net.Conn) {
			c.Write([]byte{0x00})
			c.(*net.TCPConn).CloseWrite()
		}, true},
		{"zero-length frame (ignored)", func(c net.Conn) { c.Write([]byte{0, 0}) }, false},
	}
	for _, k := range transport {
		nc, err := net.Dial("tcp", s.app.ISOAddr())
		if err != nil {
			t.Fatal(err)
		}
		k.send(nc)
		br := bufio.NewReader(nc)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if k.close {
			if _, err := br.ReadByte(); err == nil {
				t.Errorf("%s: the switch answered or kept the connection open", k.name)
			} else if err != io.EOF && !isReset(err) {
				t.Errorf("%s: connection not closed by the switch: %v", k.name, err)
			}
		} else {
			w := &rawConn{t: t, c: nc, br: br}
			if r := w.roundTrip(s.echo()); r.ResponseCode != "00" {
				t.Errorf("%s: connection no longer serves: %+v", k.name, r)
			}
		}
		nc.Close()
		if r := rc.roundTrip(s.echo()); r.ResponseCode != "00" {
			t.Fatalf("after %s the catalog connection no longer serves", k.name)
		}
		if after := s.ledgerState(); after != before {
			t.Fatalf("%s changed the ledger", k.name)
		}
	}
	badInputsTried.iso += len(transport)

	// And the same connection still authorizes: the good message moves money exactly once.
	good := auth()
	if r := rc.roundTrip(s.build(good)); r.ResponseCode != "00" || r.STAN != good.STAN {
		t.Fatalf("good 0100 after the catalog: %+v", r)
	}
	if b, _ := s.app.Engine().State().Balance(c.balanceID); b.HeldMinor != 100 {
		t.Fatalf("good 0100 after the catalog: held %d, want 100", b.HeldMinor)
	}
	t.Logf("ISO bad inputs tried: %d (%d messages, %d transport)", len(cases)+len(transport), len(cases), len(transport))
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}
