package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/switch/codec"
)

// The durable echo answers the bench's whole mix, every answer after an fdatasync: a 1 s
// closed loop has answers, no errors, and fewer fdatasyncs than answers (bursts and
// connections share them).
func TestDurableEchoBaseline(t *testing.T) {
	e, err := StartDurableEcho("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mix, _ := ParseMix(DefaultMix)
	cards := testCards(t)
	res, err := Run(context.Background(), Options{Label: "durable-echo", Addr: e.Addr(), Connections: 2,
		Duration: time.Second, Pipeline: 16, Mix: mix, Cards: *cards, Seed: 3, PrebuildRate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Approved == 0 || res.Errors != 0 || e.Errors() != 0 || res.Timeouts != 0 {
		t.Fatalf("approved %d errors %d/%d timeouts %d", res.Approved, res.Errors, e.Errors(), res.Timeouts)
	}
	if s := e.Syncs(); s == 0 || s >= res.ApprovedAll {
		t.Fatalf("%d fdatasyncs for %d answers: want at least one, and group commits", s, res.ApprovedAll)
	}
}

// The codec echoes what cardswitch echoes, adds 38 and 39, keeps the card number out of the
// record, refuses what it cannot parse, and allocates nothing.
func TestDurableEchoCodec(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix(DefaultMix)
	g := newGenerator(cards, &mix, 0, 1, 5, 1)
	for range 50 {
		msg, _, _, err := g.next(time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out, recs, ok := echoAnswer(nil, nil, msg)
		if !ok {
			t.Fatalf("refused %q", msg)
		}
		resp, err := codec.DecodeResponse(out[2:])
		if err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
		req, err := codec.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if resp.MTI != codec.ResponseMTI(req.MTI) || resp.STAN != req.STAN || resp.RRN != req.RRN ||
			resp.ResponseCode != "00" || resp.AuthCode == "" || resp.PAN != req.PAN {
			t.Fatalf("answer %+v to %q", resp, msg)
		}
		if bytes.Contains(recs, []byte(req.PAN)) {
			t.Fatal("the record holds the card number")
		}
		if n := testing.AllocsPerRun(20, func() { out, recs, _ = echoAnswer(out[:0], recs[:0], msg) }); n != 0 {
			t.Fatalf("%v allocations per answer", n)
		}
	}
	for _, bad := range []string{"", "0100", "0100ZZZZZZZZZZZZZZZZ", "01000000000000000001" /* field 64 announced, absent */} {
		if _, _, ok := echoAnswer(nil, nil, []byte(bad)); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// Reports give cardswitch's figures as ratios to the durable echo's, in the summary, the JSON
// and the HTML.
func TestReportRatiosToTheDurableEcho(t *testing.T) {
	sw := &RunResult{Label: "cardswitch", Mode: "closed", ApprovedPerSec: 30000, Latency: LatencySummary{P99Ms: 6, P999Ms: 12}}
	de := &RunResult{Label: "durable-echo", Mode: "closed", ThroughputPerSec: 100000, Latency: LatencySummary{P99Ms: 2, P999Ms: 3}}
	rep := &Report{Runs: []*RunResult{sw, de}}
	rep.setRatios(sw, de, "durable-echo")
	if *rep.Ratio != 0.3 || *rep.LatencyRatioP99 != 3 || *rep.LatencyRatioP999 != 4 {
		t.Fatalf("ratios %v %v %v", *rep.Ratio, *rep.LatencyRatioP99, *rep.LatencyRatioP999)
	}
	var sum, js, html bytes.Buffer
	rep.Summary(&sum)
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for what, b := range map[string]*bytes.Buffer{
		"summary": &sum, "html": &html,
	} {
		if !bytes.Contains(b.Bytes(), []byte("cardswitch/durable-echo")) && !bytes.Contains(b.Bytes(), []byte("cardswitch / durable-echo")) {
			t.Fatalf("%s does not name the durable echo:\n%s", what, b.String())
		}
	}
	if !bytes.Contains(js.Bytes(), []byte(`"baseline": "durable-echo"`)) || !bytes.Contains(js.Bytes(), []byte(`"latencyRatioP999": 4`)) {
		t.Fatalf("json: %s", js.String())
	}
	sw.Mode, de.Mode = "open", "open"
	rep = &Report{}
	rep.setRatios(sw, de, "durable-echo")
	if rep.Ratio != nil || rep.LatencyRatioP99 == nil {
		t.Fatal("open loop: a throughput ratio, or no latency ratio")
	}
}
