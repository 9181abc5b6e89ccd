package codec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/moov-io/iso8583"
)

// fuzzSeeds are valid messages of every request MTI, some truncations and some malformed ones.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, mti := range requestMTIs {
		msg := mustBuild(t, sampleRequest(mti))
		seeds = append(seeds, msg, msg[:len(msg)/2], msg[:len(msg)-1])
	}
	minimal := mustBuild(t, &authz.Request{MTI: "0100", PAN: testPAN, ProcessingCode: "300000",
		HasAmount: true, F7: testF7, STAN: testSTAN, CurrencyNum: "978"})
	seeds = append(seeds,
		minimal, minimal[:24], minimal[:4],
		[]byte("0800822000000000000004000000000000000101120000000001001"),
		[]byte("0800"+"8220000000000000"+"8400000000000000"),
		[]byte("0100"+"4000000000000000"+"99"),
		[]byte("0100"+"ZZZZZZZZZZZZZZZZ"),
		[]byte("0110"+"0020000000000000"+"000001"),
		[]byte{},
	)
	return seeds
}

// FuzzDecode: Decode never panics, whatever the input; what it accepts, moov (the reference
// implementation, same Spec) accepts with the same values, re-encodes into a valid response and
// rebuilds into a request that decodes to the same Request; an answerable FormatError can always be
// answered.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 1<<16 {
			t.Skip() // a frame holds at most 65535 bytes
		}
		_, _ = DecodeResponse(msg) // must not panic either

		req, err := Decode(msg)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormatError", err, err)
			}
			if fe.Answerable() {
				out, err := EncodeFormatError(fe.Request)
				if err != nil {
					t.Fatalf("answerable %v, but EncodeFormatError: %v", fe, err)
				}
				rm, err := DecodeResponse(out)
				if err != nil || rm.ResponseCode != "30" || rm.STAN != fe.Request.STAN ||
					rm.MTI != ResponseMTI(fe.Request.MTI) {
					t.Fatalf("format-error answer %q: %+v %v", out, rm, err)
				}
			}
			return
		}

		m := iso8583.NewMessage(Spec)
		if err := m.Unpack(msg); err != nil {
			t.Fatalf("codec accepts, moov refuses: %v", err)
		}
		assertMoovAgrees(t, msg)

		out, err := Encode(req, authz.Response{Action: authz.Approved, AuthCode: "000001",
			HasBalance: true, AvailableMinor: -1, CurrencyNum: "978", ICCResponse: testARPC})
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if _, err := DecodeResponse(out); err != nil {
			t.Fatalf("DecodeResponse(Encode()): %v", err)
		}

		rebuilt, err := BuildRequest(req)
		if err != nil {
			t.Fatalf("BuildRequest(Decode()): %v", err)
		}
		again, err := Decode(rebuilt)
		if err != nil {
			t.Fatalf("Decode(BuildRequest(Decode())): %v", err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("rebuild changed the request:\n%+v\n%+v", req, again)
		}
	})
}

// TestWriteFuzzSeedFiles regenerates testdata/fuzz/FuzzDecode from fuzzSeeds when
// CODEC_WRITE_FUZZ_SEEDS=1; otherwise it checks that the files exist.
func TestWriteFuzzSeedFiles(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("CODEC_WRITE_FUZZ_SEEDS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("no seed corpus in %s (run with CODEC_WRITE_FUZZ_SEEDS=1): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
