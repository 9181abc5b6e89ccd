package cluster

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Limits of the transport.
const (
	// sendQueue is how many messages wait for one peer; past it a message is dropped (Raft
	// sends again what was not acknowledged), so a dead peer never blocks the loop.
	sendQueue = 4096
	// maxFrameBytes bounds one message read from a peer; a larger frame closes the stream.
	maxFrameBytes = 64 << 20
	dialTimeout   = time.Second
	streamBuffer  = 256 << 10
)

// transport carries Raft's messages between the members: one outgoing TCP stream per peer,
// written by its own goroutine, each message a 4-byte length and its protobuf encoding. A
// stream that fails is dropped with the message in hand and dialled again for the next one.
type transport struct {
	ln    net.Listener
	recv  chan<- *raftpb.Message
	stopc chan struct{} // closed by close: readers blocked on recv give up
	peers map[uint64]*peer

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	// cut holds the peers this node neither sends to nor hears from: a network partition,
	// made by tests (setCut) to show what a cut-off node does.
	cut map[uint64]bool
	wg  sync.WaitGroup
}

type peer struct {
	addr string
	out  chan []byte
}

func newTransport(ln net.Listener, recv chan<- *raftpb.Message) *transport {
	t := &transport{ln: ln, recv: recv, stopc: make(chan struct{}), peers: map[uint64]*peer{},
		conns: map[net.Conn]struct{}{}, cut: map[uint64]bool{}}
	t.wg.Add(1)
	go t.serve()
	return t
}

// addPeer is called before the first send.
func (t *transport) addPeer(id uint64, addr string) {
	p := &peer{addr: addr, out: make(chan []byte, sendQueue)}
	t.peers[id] = p
	t.wg.Add(1)
	go t.sendLoop(p)
}

// setCut cuts this node off from peer (or joins it again).
func (t *transport) setCut(peer uint64, cut bool) {
	t.mu.Lock()
	t.cut[peer] = cut
	t.mu.Unlock()
}

func (t *transport) isCut(peer uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cut[peer]
}

// send queues m for its peer; it never blocks. Safe for concurrent use.
func (t *transport) send(m *raftpb.Message) {
	p, ok := t.peers[m.GetTo()]
	if !ok || t.isCut(m.GetTo()) {
		return
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return
	}
	select {
	case p.out <- b:
	default:
	}
}

func (t *transport) sendLoop(p *peer) {
	defer t.wg.Done()
	var conn net.Conn
	var w *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var hdr [4]byte
	for {
		var b []byte
		select {
		case b = <-p.out:
		case <-t.stopc:
			return
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", p.addr, dialTimeout)
			if err != nil {
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, streamBuffer)
		}
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		_, err := w.Write(hdr[:])
		if err == nil {
			_, err = w.Write(b)
		}
		if err == nil && len(p.out) == 0 {
			err = w.Flush()
		}
		if err != nil {
			conn.Close()
			conn = nil
		}
	}
}

func (t *transport) serve() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		select {
		case <-t.stopc:
			t.mu.Unlock()
			c.Close()
			return
		default:
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.readLoop(c)
	}
}

func (t *transport) readLoop(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, streamBuffer)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size > maxFrameBytes {
			return
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return
		}
		// A peer's message never speaks for this node's own log or apply steps, nor for
		// a peer that is cut off.
		if raft.IsLocalMsg(m.GetType()) || t.isCut(m.GetFrom()) {
			continue
		}
		select {
		case t.recv <- m:
		case <-t.stopc:
			return
		}
	}
}

// close stops every goroutine of the transport and closes its streams and listener.
func (t *transport) close() {
	t.mu.Lock()
	close(t.stopc)
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.ln.Close()
	t.wg.Wait()
}
