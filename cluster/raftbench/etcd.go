package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/ledger/wal"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The etcd raft candidate: RawNode with a minimal Ready loop. Its log is raft.MemoryStorage for
// reads plus a ledger/wal record per Ready for durability (the Ready's entries and hard state,
// one Append and one fdatasync); its transport one TCP stream per peer carrying length-prefixed
// raftpb.Messages. As in etcd's server, the leader sends its appends to the followers before its
// own fdatasync, and a follower answers only after its own; the leader counts itself in the
// majority only once its own fdatasync is done (RawNode steps its own append after Advance).

const (
	etcdTick          = 10 * time.Millisecond
	etcdElectionTicks = 100 // 1 s, as hashicorp's default
	etcdHeartbeatTick = 10
	etcdMaxMsgBytes   = 1 << 20
	etcdMaxFrameBytes = 64 << 20
	etcdRecvQueue     = 4096
	etcdSendQueue     = 4096
)

var errEtcdStopped = errors.New("etcd node stopped")

type etcdGroup struct {
	nodes  []*etcdNode
	leader *etcdNode
}

type etcdProposal struct {
	data []byte
	done chan error
}

type etcdNode struct {
	id     uint64
	rn     *raft.RawNode
	ms     *raft.MemoryStorage
	log    *wal.Log
	tr     *etcdTransport
	propc  chan etcdProposal
	recvc  chan *raftpb.Message
	stop   chan struct{}
	done   chan struct{}
	leader atomic.Bool

	// Owned by the loop goroutine.
	nextID  uint64
	waiting map[uint64]chan error
	buf     []byte
}

func openEtcd(dir string) (candidate, error) {
	g := &etcdGroup{}
	ids := []uint64{1, 2, 3}
	trs := make([]*etcdTransport, len(ids))
	for i, id := range ids {
		tr, err := newEtcdTransport(id)
		if err != nil {
			for _, t := range trs[:i] {
				t.close()
			}
			return nil, err
		}
		trs[i] = tr
	}
	for i := range trs {
		for j, id := range ids {
			if i != j {
				trs[i].addPeer(id, trs[j].ln.Addr().String())
			}
		}
	}
	for i, id := range ids {
		l, err := openWALLog(filepath.Join(dir, fmt.Sprintf("n%d", id)))
		if err != nil {
			g.close()
			return nil, err
		}
		n, err := newEtcdNode(id, ids, l, trs[i])
		if err != nil {
			l.Close()
			g.close()
			return nil, err
		}
		g.nodes = append(g.nodes, n)
	}
	// Node 1 campaigns at once so a measurement does not wait an election timeout.
	if err := g.nodes[0].rn.Campaign(); err != nil {
		g.close()
		return nil, err
	}
	for _, n := range g.nodes {
		go n.loop()
	}
	deadline := time.Now().Add(hashiElectionWait)
	for g.leader == nil {
		for _, n := range g.nodes {
			if n.leader.Load() {
				g.leader = n
			}
		}
		if g.leader == nil {
			if time.Now().After(deadline) {
				g.close()
				return nil, errors.New("etcd: no leader elected")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return g, nil
}

func newEtcdNode(id uint64, voters []uint64, l *wal.Log, tr *etcdTransport) (*etcdNode, error) {
	ms := raft.NewMemoryStorage()
	// The group starts from a snapshot at index 1 that holds its membership, as etcd's docs
	// advise over Bootstrap.
	snap := raftpb.EnsureSnapshot(nil)
	snap.Metadata.Index = proto.Uint64(1)
	snap.Metadata.Term = proto.Uint64(1)
	snap.Metadata.ConfState.Voters = voters
	if err := ms.ApplySnapshot(snap); err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        id,
		ElectionTick:              etcdElectionTicks,
		HeartbeatTick:             etcdHeartbeatTick,
		Storage:                   ms,
		MaxSizePerMsg:             etcdMaxMsgBytes,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		Logger:                    &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		return nil, err
	}
	n := &etcdNode{
		id: id, rn: rn, ms: ms, log: l, tr: tr,
		propc:   make(chan etcdProposal, 1024),
		recvc:   make(chan *raftpb.Message, etcdRecvQueue),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		waiting: map[uint64]chan error{},
	}
	tr.recv = n.recvc
	go tr.serve()
	return n, nil
}

func (g *etcdGroup) propose(p []byte) (waiter, error) {
	done := make(chan error, 1)
	select {
	case g.leader.propc <- etcdProposal{p, done}:
	case <-g.leader.done:
		return nil, errEtcdStopped
	}
	return func() error { return <-done }, nil
}

func (g *etcdGroup) close() error {
	for _, n := range g.nodes {
		n.close()
	}
	return nil
}

func (n *etcdNode) close() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
	n.tr.close()
	n.log.Close()
}

// loop is the node's only user of its RawNode: ticks, proposals and peers' messages come in by
// channel, and every Ready is handled before the next input.
func (n *etcdNode) loop() {
	defer close(n.done)
	defer func() {
		for id, ch := range n.waiting {
			ch <- errEtcdStopped
			delete(n.waiting, id)
		}
	}()
	t := time.NewTicker(etcdTick)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.rn.Tick()
		case p := <-n.propc:
			n.proposeOne(p)
			for more := true; more; {
				select {
				case p := <-n.propc:
					n.proposeOne(p)
				default:
					more = false
				}
			}
		case m := <-n.recvc:
			_ = n.rn.Step(m) // a message from a stale term or an unknown peer is dropped
			for more := true; more; {
				select {
				case m := <-n.recvc:
					_ = n.rn.Step(m)
				default:
					more = false
				}
			}
		}
		for n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				return
			}
		}
	}
}

// proposeOne proposes p with an 8-byte proposal number in front, by which the committed entry
// is matched back to its waiter.
func (n *etcdNode) proposeOne(p etcdProposal) {
	n.nextID++
	data := make([]byte, 8+len(p.data))
	binary.BigEndian.PutUint64(data, n.nextID)
	copy(data[8:], p.data)
	if err := n.rn.Propose(data); err != nil {
		p.done <- err
		return
	}
	n.waiting[n.nextID] = p.done
}

func (n *etcdNode) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.leader.Store(rd.SoftState.RaftState == raft.StateLeader)
	}
	leader := n.leader.Load()
	if leader {
		n.tr.send(rd.Messages)
	}
	// Committed entries are durable on a majority already (the leader's own fdatasync among
	// them: RawNode counts its own append only after Advance), so their waiters are told
	// before this Ready's new entries are written, as etcd's server applies them alongside.
	for _, e := range rd.CommittedEntries {
		switch e.GetType() {
		case raftpb.EntryConfChange:
			cc := &raftpb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), cc); err == nil {
				n.rn.ApplyConfChange(cc)
			}
		case raftpb.EntryConfChangeV2:
			cc := &raftpb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err == nil {
				n.rn.ApplyConfChange(cc)
			}
		case raftpb.EntryNormal:
			if d := e.GetData(); len(d) >= 8 {
				id := binary.BigEndian.Uint64(d)
				if ch, ok := n.waiting[id]; ok {
					ch <- nil
					delete(n.waiting, id)
				}
			}
		}
	}
	if err := n.persist(rd); err != nil {
		return err
	}
	if !leader {
		n.tr.send(rd.Messages)
	}
	n.rn.Advance(rd)
	return nil
}

// persist writes the Ready's hard state and entries as one log record and waits for its
// fdatasync, then hands them to the MemoryStorage raft reads from.
func (n *etcdNode) persist(rd raft.Ready) error {
	hsChanged := rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState)
	if !hsChanged && len(rd.Entries) == 0 {
		return nil
	}
	n.buf = n.buf[:0]
	if hsChanged {
		b, err := proto.Marshal(rd.HardState)
		if err != nil {
			return err
		}
		n.buf = binary.AppendUvarint(n.buf, uint64(len(b)))
		n.buf = append(n.buf, b...)
	} else {
		n.buf = binary.AppendUvarint(n.buf, 0)
	}
	for _, e := range rd.Entries {
		b, err := proto.Marshal(e)
		if err != nil {
			return err
		}
		n.buf = binary.AppendUvarint(n.buf, uint64(len(b)))
		n.buf = append(n.buf, b...)
	}
	seq, err := n.log.Append(n.buf)
	if err != nil {
		return err
	}
	if err := n.log.Wait(seq); err != nil {
		return err
	}
	if hsChanged {
		if err := n.ms.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	return n.ms.Append(rd.Entries)
}

// etcdTransport carries raftpb.Messages between the nodes: one outgoing TCP stream per peer,
// written by one goroutine; a message that cannot be sent is dropped (raft resends).
type etcdTransport struct {
	id    uint64
	ln    net.Listener
	peers map[uint64]*etcdPeer
	recv  chan<- *raftpb.Message
	stopc chan struct{} // closed by close: a reader blocked on recv gives up

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

type etcdPeer struct {
	addr string
	out  chan []byte
}

func newEtcdTransport(id uint64) (*etcdTransport, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &etcdTransport{id: id, ln: ln, peers: map[uint64]*etcdPeer{}, stopc: make(chan struct{})}, nil
}

func (t *etcdTransport) addPeer(id uint64, addr string) {
	p := &etcdPeer{addr: addr, out: make(chan []byte, etcdSendQueue)}
	t.peers[id] = p
	t.wg.Add(1)
	go t.sendLoop(p)
}

func (t *etcdTransport) send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		p, ok := t.peers[m.GetTo()]
		if !ok {
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			continue
		}
		select {
		case p.out <- b:
		default: // the peer is too far behind: drop, raft resends
		}
	}
}

func (t *etcdTransport) sendLoop(p *etcdPeer) {
	defer t.wg.Done()
	var conn net.Conn
	var w *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var hdr [4]byte
	for b := range p.out {
		if conn == nil {
			c, err := net.DialTimeout("tcp", p.addr, time.Second)
			if err != nil {
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 256<<10)
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

func (t *etcdTransport) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		t.conns = append(t.conns, c)
		t.mu.Unlock()
		t.wg.Add(1)
		go t.readLoop(c)
	}
}

func (t *etcdTransport) readLoop(c net.Conn) {
	defer t.wg.Done()
	defer c.Close()
	r := bufio.NewReaderSize(c, 256<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size > etcdMaxFrameBytes {
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
		select {
		case t.recv <- m:
		case <-t.stopc:
			return
		}
	}
}

func (t *etcdTransport) close() {
	close(t.stopc)
	t.ln.Close()
	for _, p := range t.peers {
		close(p.out)
	}
	t.mu.Lock()
	for _, c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}
