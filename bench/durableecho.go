package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cardswitch/cardswitch/ledger/wal"
)

// DurableEcho is the floor baseline (`--baseline durable-echo`): what the disk and the
// transport allow a durable switch on this machine, with none of cardswitch's work. One
// goroutine per connection reads a burst of requests (every whole frame its buffer holds),
// parses each with its own allocation-free codec of the iso87 profile (fieldLayout), appends a
// record per request (the message key and the amount; never the card number) to the burst's
// share of a group commit, and writes the answers only once the group is on disk: one write and
// one fdatasync into a preallocated file for everything the connections handed in meanwhile.
// Answers carry the fields cardswitch echoes, an authorization code and field 39 "00".
type DurableEcho struct {
	ln     net.Listener
	gc     *groupCommit
	dir    string
	errors atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// durableEchoFileBytes is the size of the preallocated file; it is written as a ring.
const durableEchoFileBytes = 64 << 20

// StartDurableEcho starts the server on addr with its file in a new directory under dir ("":
// the system's temporary directory); Close removes it.
func StartDurableEcho(addr, dir string) (*DurableEcho, error) {
	d, err := os.MkdirTemp(dir, "cardswitch-durable-echo-")
	if err != nil {
		return nil, fmt.Errorf("durable echo: %w", err)
	}
	gc, err := newGroupCommit(filepath.Join(d, "log"), durableEchoFileBytes)
	if err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		gc.close()
		os.RemoveAll(d)
		return nil, fmt.Errorf("durable echo: %w", err)
	}
	e := &DurableEcho{ln: ln, gc: gc, dir: d, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

// Addr is the listening address.
func (e *DurableEcho) Addr() string { return e.ln.Addr().String() }

// Errors counts requests the server could not parse or answer, and failed writes to its file.
func (e *DurableEcho) Errors() int64 { return e.errors.Load() + e.gc.failures.Load() }

// Syncs counts the group commits (fdatasyncs) so far.
func (e *DurableEcho) Syncs() int64 { return e.gc.syncs.Load() }

// Close stops the server, its connections and its committer, and removes its file.
func (e *DurableEcho) Close() {
	e.mu.Lock()
	e.closed = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.ln.Close()
	e.wg.Wait()
	e.gc.close()
	os.RemoveAll(e.dir)
}

func (e *DurableEcho) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			e.serve(c)
			e.mu.Lock()
			delete(e.conns, c)
			e.mu.Unlock()
			c.Close()
		}()
	}
}

// serve is one connection: read a burst, parse and answer it into buffers, commit its records,
// then write the answers. Nothing is allocated per request.
func (e *DurableEcho) serve(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	frame := make([]byte, 0, 65535)
	var recs, out []byte
	for {
		recs, out = recs[:0], out[:0]
		// The burst: one frame (waiting for it), then every whole frame already buffered.
		for first := true; first || wholeFrameBuffered(br); first = false {
			n, err := readFrameLen(br)
			if err != nil {
				return
			}
			frame = frame[:n]
			if _, err := io.ReadFull(br, frame); err != nil {
				return
			}
			var ok bool
			if out, recs, ok = echoAnswer(out, recs, frame); !ok {
				e.errors.Add(1)
				return
			}
		}
		if err := e.gc.commit(recs); err != nil {
			return // counted by the committer; the answers of an uncommitted burst never leave
		}
		if _, err := bw.Write(out); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

func readFrameLen(br *bufio.Reader) (int, error) {
	var b [2]byte
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b[:])), nil
}

// wholeFrameBuffered reports whether br holds a whole frame (length prefix and message).
func wholeFrameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 2 {
		return false
	}
	b, err := br.Peek(2)
	if err != nil {
		return false
	}
	return br.Buffered() >= 2+int(binary.BigEndian.Uint16(b))
}

// fieldLayout is the iso87 profile (switch/codec.Spec) for the fields a request of the bench
// can carry: fixed length in characters, or the digits of the length prefix. Zero: a field
// the durable echo does not know (the request is refused).
var fieldLayout = func() (t [129]struct{ fixed, prefix int }) {
	for id, n := range map[int]int{3: 6, 4: 12, 7: 10, 11: 6, 12: 6, 13: 4, 14: 4, 18: 4, 22: 3, 23: 3, 25: 2,
		37: 12, 38: 6, 39: 2, 41: 8, 42: 15, 43: 40, 49: 3, 52: 16, 64: 16, 70: 3, 90: 42, 95: 42} {
		t[id].fixed = n
	}
	for id, p := range map[int]int{2: 2, 32: 2, 35: 2, 48: 3, 54: 3, 55: 3} {
		t[id].prefix = p
	}
	return t
}()

// echoed are the fields an answer repeats from its request (contract §2's echo list).
var echoed = [...]int{2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 70}

// echoAnswer parses one request and appends its framed answer to out and its record to recs.
// ok is false for a message it cannot parse.
func echoAnswer(out, recs, msg []byte) ([]byte, []byte, bool) {
	if len(msg) < 20 {
		return out, recs, false
	}
	var bitmap [2]uint64
	var ok bool
	if bitmap[0], ok = hexWord(msg[4:20]); !ok {
		return out, recs, false
	}
	off := 20
	if bitmap[0]&(1<<63) != 0 {
		if len(msg) < 36 {
			return out, recs, false
		}
		if bitmap[1], ok = hexWord(msg[20:36]); !ok {
			return out, recs, false
		}
		off = 36
	}
	// Where each field's wire text (length prefix included) lies.
	var at [129][2]int32
	for id := 2; id <= 128; id++ {
		if bitmap[(id-1)/64]&(1<<(63-uint(id-1)%64)) == 0 {
			continue
		}
		l := fieldLayout[id]
		n := l.fixed
		if l.prefix > 0 {
			if len(msg)-off < l.prefix {
				return out, recs, false
			}
			n = 0
			for _, c := range msg[off : off+l.prefix] {
				if c < '0' || c > '9' {
					return out, recs, false
				}
				n = n*10 + int(c-'0')
			}
			n += l.prefix
		}
		if n == 0 || len(msg)-off < n {
			return out, recs, false
		}
		at[id] = [2]int32{int32(off), int32(off + n)}
		off += n
	}
	if off != len(msg) {
		return out, recs, false
	}
	// The answer: length, MTI, bitmap, the echoed fields, 38 and 39, in field order.
	start := len(out)
	out = append(out, 0, 0)
	out = append(out, msg[0], msg[1], msg[2]+1, msg[3])
	var rb uint64
	for _, id := range echoed {
		if id <= 64 && at[id][1] != 0 {
			rb |= 1 << (63 - uint(id-1))
		}
	}
	rb |= 1<<(63-37) | 1<<(63-38) // 38 and 39
	out = appendHexWord(out, rb)
	for id := 2; id <= 64; id++ {
		if rb&(1<<(63-uint(id-1))) == 0 {
			continue
		}
		switch id {
		case 38:
			out = append(out, "000001"...)
		case 39:
			out = append(out, "00"...)
		default:
			out = append(out, msg[at[id][0]:at[id][1]]...)
		}
	}
	binary.BigEndian.PutUint16(out[start:], uint16(len(out)-start-2))
	// The record: the message's key (MTI, 11, 7, 32, 37) and amount (4), never the card number.
	for _, id := range [...]int{11, 7, 32, 37, 4} {
		recs = append(recs, msg[at[id][0]:at[id][1]]...)
	}
	recs = append(recs, msg[:4]...)
	return out, recs, true
}

func hexWord(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func appendHexWord(dst []byte, v uint64) []byte {
	const digits = "0123456789ABCDEF"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[(v>>uint(i))&0xF])
	}
	return dst
}

// groupCommit makes the records of concurrent callers durable together: a committer goroutine
// writes everything handed in since its last flush with one write and one fdatasync, into a
// file written in full beforehand (used as a ring), and wakes the callers whose records it held.
type groupCommit struct {
	f    wal.File // fdatasync on Linux
	size int64

	mu      sync.Mutex
	work    sync.Cond // wakes the committer
	done    sync.Cond // wakes the callers
	pending []byte
	spare   []byte
	gen     uint64 // generation of the pending records
	synced  uint64 // every generation up to it is durable
	err     error  // the committer failed: every later commit fails
	closed  bool
	stopped chan struct{}
	off     int64

	syncs, failures atomic.Int64
}

func newGroupCommit(path string, size int64) (*groupCommit, error) {
	f, err := wal.OS.Create(path)
	if err != nil {
		return nil, fmt.Errorf("durable echo: %w", err)
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			f.Close()
			return nil, fmt.Errorf("durable echo: preallocate: %w", err)
		}
	}
	if err := f.Datasync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("durable echo: preallocate: %w", err)
	}
	g := &groupCommit{f: f, size: size, gen: 1, stopped: make(chan struct{}),
		pending: make([]byte, 0, 1<<20), spare: make([]byte, 0, 1<<20)}
	g.work.L, g.done.L = &g.mu, &g.mu
	go g.run()
	return g, nil
}

// commit hands recs in and returns once they are durable.
func (g *groupCommit) commit(recs []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	if g.closed {
		return errors.New("durable echo: closed")
	}
	g.pending = append(g.pending, recs...)
	mine := g.gen
	g.work.Signal()
	for g.synced < mine && g.err == nil {
		g.done.Wait()
	}
	return g.err
}

func (g *groupCommit) run() {
	defer close(g.stopped)
	for {
		g.mu.Lock()
		for len(g.pending) == 0 && !g.closed {
			g.work.Wait()
		}
		if len(g.pending) == 0 {
			g.mu.Unlock()
			return
		}
		buf, gen := g.pending, g.gen
		g.pending, g.spare = g.spare[:0], nil
		g.gen++
		g.mu.Unlock()

		err := g.write(buf)

		g.mu.Lock()
		g.spare = buf[:0]
		if err != nil {
			g.failures.Add(1)
			g.err = fmt.Errorf("durable echo: %w", err)
		} else {
			g.synced = gen
			g.syncs.Add(1)
		}
		g.done.Broadcast()
		g.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// write writes buf at the ring's position (from its start again when it would pass the end)
// and fdatasyncs it.
func (g *groupCommit) write(buf []byte) error {
	if int64(len(buf)) > g.size {
		buf = buf[:g.size] // a burst above the whole file: a baseline never sees one
	}
	if g.off+int64(len(buf)) > g.size {
		g.off = 0
	}
	if _, err := g.f.WriteAt(buf, g.off); err != nil {
		return err
	}
	g.off += int64(len(buf))
	return g.f.Datasync()
}

func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	g.work.Broadcast()
	g.mu.Unlock()
	<-g.stopped
	g.f.Close()
}
