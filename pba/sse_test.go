package pba

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// M17: the SSE stream starts with the pending messages, then sends new ones as changes are made
// durable, in order, with their ids; a second connection gets again what was not acknowledged.
func TestSSEStream(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	_, tok := h.registerAndDigitize(sess) // message 1: provision
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h.h}
	go srv.Serve(ln)
	t.Cleanup(func() { h.svc.streams.closeAll(); srv.Shutdown(); ln.Close() }) // streams end first, as in app.stop
	client := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return ln.Dial()
	}}}
	open := func() (*bufio.Reader, func()) {
		req, _ := http.NewRequest("GET", "http://pba/pba/openSSEConnection", nil)
		req.Header.Set("Authorization", "Bearer "+sess)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	// next reads the next event: its id and type.
	next := func(r *bufio.Reader) (id, typ string) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				line = strings.TrimRight(line, "\n")
				switch {
				case strings.HasPrefix(line, "id: "):
					id = line[4:]
				case strings.HasPrefix(line, "event: "):
					typ = line[7:]
				case line == "" && typ != "":
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return id, typ
	}
	r, closeStream := open()
	id1, typ1 := next(r)
	if typ1 != MsgRemote || !strings.HasSuffix(id1, ".1") {
		t.Fatalf("first event %s %s", id1, typ1)
	}
	h.want(h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tok, "status": "SUCCESS"}), 200, "")
	id2, typ2 := next(r)
	if typ2 != MsgTokenUpdated || !strings.HasSuffix(id2, ".2") {
		t.Fatalf("live event %s %s", id2, typ2)
	}
	closeStream()
	h.want(h.mobile(sess, "acknowledgeMessage", map[string]string{"messageId": id1}), 200, "")
	r2, close2 := open()
	defer close2()
	if id, _ := next(r2); id != id2 {
		t.Fatalf("reconnect starts with %s, want the unacknowledged %s", id, id2)
	}
	h.want(h.mobile("bad", "openSSEConnection", nil), 405, "") // POST is not the stream
	a := h.call("GET", "/pba/openSSEConnection", nil)
	h.want(a, 401, "USER_UNATHORIZED")
}
