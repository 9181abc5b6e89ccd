package pba

import (
	"bufio"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The SSE stream (GET /pba/openSSEConnection, seed M17): while a device is connected, its
// installation's unacknowledged messages are written to it in order as events
// ("id: <messageId>", "event: <type>", "data: <message JSON>"). A stream starts with every
// pending message and then sends each new one once a change made it durable; a message stays
// pending until acknowledged, so a device that reconnects gets again what it did not
// acknowledge (at least once; the id lets the SDK drop repeats).

// Limits of the streams.
const (
	// MaxStreams bounds the open streams; past it a new one is answered 503 UNAVAILABLE.
	MaxStreams = 10_000
	// MaxStreamsPerInstallation bounds one installation's open streams (409 TOO_MANY_STREAMS).
	MaxStreamsPerInstallation = 2
	// heartbeatEvery is how often an idle stream gets a comment line, so that proxies keep it
	// open and a dead client is noticed.
	heartbeatEvery = 15 * time.Second
)

// streams registers the open streams; a wake tells each to look for new messages.
type streams struct {
	mu     sync.Mutex
	byInst map[string]map[chan struct{}]bool
	n      int
	closed chan struct{}
	once   sync.Once
}

func newStreams() *streams {
	return &streams{byInst: map[string]map[chan struct{}]bool{}, closed: make(chan struct{})}
}

// add registers a stream of an installation; ok is false at a limit (code says which).
func (s *streams) add(installID string) (ch chan struct{}, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= MaxStreams {
		return nil, "UNAVAILABLE"
	}
	if len(s.byInst[installID]) >= MaxStreamsPerInstallation {
		return nil, "TOO_MANY_STREAMS"
	}
	ch = make(chan struct{}, 1)
	if s.byInst[installID] == nil {
		s.byInst[installID] = map[chan struct{}]bool{}
	}
	s.byInst[installID][ch] = true
	s.n++
	return ch, ""
}

func (s *streams) remove(installID string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byInst[installID][ch] {
		delete(s.byInst[installID], ch)
		s.n--
		if len(s.byInst[installID]) == 0 {
			delete(s.byInst, installID)
		}
	}
}

// wake tells every stream to look for new messages (a change was made durable).
func (s *streams) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.byInst {
		for ch := range m {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (s *streams) closeAll() { s.once.Do(func() { close(s.closed) }) }

// serveSSE streams an installation's messages until the client goes away, the installation is
// gone or the service closes.
func (s *Service) serveSSE(ctx *fasthttp.RequestCtx, sess session) {
	ch, code := s.streams.add(sess.installID)
	if ch == nil {
		if code == "UNAVAILABLE" {
			writeError(ctx, errUnavailable)
		} else {
			writeError(ctx, &apiError{409, code, "too many open streams for this installation", ""})
		}
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	st := s.eng.State()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.remove(sess.installID, ch)
		var last uint64
		hb := time.NewTicker(heartbeatEvery)
		defer hb.Stop()
		// retry: the management listener's write timeout ends a stream after a while; the
		// client's EventSource reconnects after this many milliseconds and gets again what it
		// did not acknowledge.
		if _, err := w.WriteString("retry: 1000\n: connected\n\n"); err != nil || w.Flush() != nil {
			return
		}
		for {
			if _, ok := get[Installation](stateView{st}, installKey(sess.installID)); !ok {
				_, _ = w.WriteString("event: installationDeleted\ndata: {}\n\n")
				_ = w.Flush()
				return
			}
			msgs := pendingMessages(st, sess.installID)
			if !s.durable() { // the engine halted: what was read may not be on disk
				return
			}
			for _, m := range msgs {
				if m.Seq <= last {
					continue
				}
				b, _ := json.Marshal(m)
				_, _ = w.WriteString("id: " + m.ID + "\nevent: " + m.Type + "\ndata: ")
				_, _ = w.Write(b)
				if _, err := w.WriteString("\n\n"); err != nil {
					return
				}
				last = m.Seq
			}
			if w.Flush() != nil {
				return
			}
			select {
			case <-ch:
			case <-hb.C:
				if _, err := w.WriteString(": " + strconv.FormatInt(time.Now().Unix(), 10) + "\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case <-s.streams.closed:
				return
			}
		}
	})
}
