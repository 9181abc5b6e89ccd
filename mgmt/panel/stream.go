package panel

import (
	"bufio"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/internal/authfeed"
)

// The live page's server-sent events (GET /panel/live/stream): first a "history" event with the
// kept traffic points and the declines by action code since the start, then a "point" event
// per new sample and an "auth" event per newly decided authorization (masked PAN only), each
// with the feed's sequence as its id, so a reconnecting browser (Last-Event-ID) gets what it
// missed still in the ring.
//
// A stream lasts at most StreamMaxDuration and then ends; the browser's EventSource reconnects
// after StreamRetry. That keeps every stream inside the listener's write timeout and bounds
// how long a shutdown waits (Close ends them at once). At most MaxStreams are open; another is
// answered 503 and the browser retries.

// Limits of the live stream (ARCHITECTURE rule 5).
const (
	StreamMaxDuration = 10 * time.Second
	StreamRetry       = 500 * time.Millisecond
	StreamPoll        = 250 * time.Millisecond // how often a stream looks for new data
	MaxStreams        = 64
)

type historyEvent struct {
	Points   []Point           `json:"points"`
	Declines map[string]uint64 `json:"declines"`
}

func (p *Panel) stream(ctx *fasthttp.RequestCtx, s *sess) {
	if p.streams.Add(1) > MaxStreams {
		p.streams.Add(-1)
		ctx.Response.Header.Set("Retry-After", "2")
		p.fail(ctx, s, 503, "TOO_MANY_STREAMS", "too many live pages are open")
		return
	}
	after, _ := strconv.ParseUint(string(ctx.Request.Header.Peek("Last-Event-ID")), 10, 64)
	if after == 0 {
		after, _ = strconv.ParseUint(string(ctx.QueryArgs().Peek("after")), 10, 64)
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer p.streams.Add(-1)
		p.writeStream(w, after)
	})
}

func (p *Panel) writeStream(w *bufio.Writer, after uint64) {
	end := time.NewTimer(StreamMaxDuration)
	defer end.Stop()
	tick := time.NewTicker(StreamPoll)
	defer tick.Stop()
	w.WriteString("retry: " + strconv.Itoa(int(StreamRetry.Milliseconds())) + "\n\n")
	var lastPoint time.Time
	if p.sampler != nil {
		pts, decl := p.sampler.history()
		if len(pts) > 0 {
			lastPoint = pts[len(pts)-1].At
		}
		if event(w, "history", "", historyEvent{Points: pts, Declines: decl}) != nil {
			return
		}
	}
	for {
		if p.sampler != nil {
			pts, _ := p.sampler.history()
			for _, pt := range pts {
				if pt.At.After(lastPoint) {
					if event(w, "point", "", pt) != nil {
						return
					}
					lastPoint = pt.At
				}
			}
		}
		if p.d.Feed != nil {
			var auths []authfeed.Authorization
			auths, _ = p.d.Feed.Since(after, LiveAuthorizationsShown)
			for _, a := range auths {
				if event(w, "auth", strconv.FormatUint(a.Seq, 10), a) != nil {
					return
				}
				after = a.Seq
			}
		}
		if w.Flush() != nil {
			return
		}
		select {
		case <-p.stop:
			return
		case <-end.C:
			return
		case <-tick.C:
		}
	}
}

// event writes one server-sent event with a JSON data line.
func event(w *bufio.Writer, name, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id != "" {
		w.WriteString("id: " + id + "\n")
	}
	w.WriteString("event: " + name + "\ndata: ")
	w.Write(b)
	_, err = w.WriteString("\n\n")
	return err
}
