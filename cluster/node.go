// Package cluster replicates the engine's batch records across a group of switches on etcd's
// Raft library (go.etcd.io/raft/v3), with ledger/wal as each node's durable copy of the Raft log
// (docs/decisions/0010-replication.md).
//
// A Node has the shape of the journal's pipelined seam (journal.Pipeliner): on the leader,
// Append proposes a record and returns its position at once; Wait(pos) returns nil once a
// majority of the group holds the record on disk. Every node, the leader included, hands each
// committed record to the Apply callback, in log order, exactly once per process life (a
// restarted node hands them again from the start of its log, to rebuild its state).
//
// What this package does not do yet (issue 23): snapshots (a node's log is never compacted, so
// a node that fell behind is caught up from the log only) and membership changes after the
// start. cardswitch serve --cluster runs on it (app/cluster.go, docs/decisions/0011).
package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/ledger/wal"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Errors of a node.
var (
	// ErrNotLeader: Append on a node that does not lead the group. Nothing was proposed.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrInDoubt: the node lost its leadership (or stopped) before the record was committed: a
	// later leader may or may not commit it. The caller must not answer as if it were durable.
	ErrInDoubt = errors.New("cluster: record in doubt: leadership lost before commit")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("cluster: node closed")
	// ErrEmptyLog: Start found no log and was not told to form a new group (Options.NewGroup).
	ErrEmptyLog = errors.New("cluster: the Raft log is empty and this member was not told to form a new group; a member whose log was lost must not rejoin under its id")
)

// Defaults of Options.
const (
	defaultTick           = 10 * time.Millisecond
	defaultElectionTicks  = 100 // with the default tick, 1 s
	defaultHeartbeatTicks = 10
	// defaultMaxMsgBytes bounds the entries of one append message to a follower, and
	// defaultMaxInflight how many such messages may be unacknowledged (etcd raft's flow control).
	defaultMaxMsgBytes = 1 << 20
	defaultMaxInflight = 256
	// proposalQueue is how many Appends may wait for the loop; one more blocks in Append until
	// the loop takes one (or the node closes).
	proposalQueue = 1024
	// appendQueue is how many log appends may wait for the append goroutine (and its answers
	// for the loop); appendBatch how many it writes under one fdatasync.
	appendQueue = 4096
	appendBatch = 256
	// recvQueue is how many peers' messages may wait for the loop; one more blocks that peer's
	// stream reader, and so, through TCP, the peer's sender, which then drops (Raft resends).
	recvQueue = 4096
	// headerBytes precede a record in its Raft entry: the proposing node's incarnation (a
	// random number drawn at Start, so a record proposed before a restart is never taken for
	// one proposed after it) and the position Append gave it, by which the commit is matched
	// back to its waiter.
	headerBytes = 16
	// defaultMaxRecordBytes bounds one record: a batch record is a few hundred KB at most.
	defaultMaxRecordBytes = 4 << 20
	// logRecordBytes bounds one write-ahead log record; a Ready with more entries is written
	// as several records (the hard state in the last), waited for together.
	logRecordBytes = 8 << 20
	// maxUncommittedBytes bounds what the leader holds proposed and not yet committed; past
	// it a proposal is refused (its Wait says ErrInDoubt) rather than queued without end.
	maxUncommittedBytes = 64 << 20
)

// Options configure a node. Zero values take the defaults.
type Options struct {
	// ID is this node's id in the group: non-zero, one of Peers' keys.
	ID uint64
	// Peers maps every member's id to its address (host:port), this node's included. The
	// group is formed with exactly these members the first time its logs are empty.
	Peers map[uint64]string
	// Listener, when set, is used instead of listening on Peers[ID] (a test that listens on
	// port 0 first, to learn the addresses).
	Listener net.Listener
	// Dir holds the node's write-ahead log.
	Dir string
	// KeyID and Keys seal the log's records (ledger/wal.Options).
	KeyID byte
	Keys  map[byte][]byte
	// Apply receives every committed record in log order, on the node's own goroutine: it
	// must not call back into the node, and must not modify record (Raft's storage holds it).
	// index is the record's Raft index.
	Apply func(index uint64, record []byte)
	// ApplyOwn, when set, is called instead of Apply, with pos the position Append gave the
	// record on this node in this process life (0: proposed elsewhere, or before a restart):
	// a journal that made the record's rows readable at Append matches them up by it.
	ApplyOwn func(index, pos uint64, record []byte)
	// Tick is Raft's clock (default 10 ms); ElectionTicks (default 100) and HeartbeatTicks
	// (default 10) count in it.
	Tick                          time.Duration
	ElectionTicks, HeartbeatTicks int
	// MaxRecordBytes bounds one record (default 4 MiB, at most 4 MiB).
	MaxRecordBytes int
	// NewGroup allows a start with an empty log: this member forms a new group with Peers. A
	// member that lost its log must not rejoin under its id (it would forget its votes and the
	// records it acknowledged, and a majority without them could elect a leader that lacks a
	// committed record), so without NewGroup an empty log is refused (ErrEmptyLog). Ignored
	// when the log holds records.
	NewGroup bool
}

func (o *Options) defaults() error {
	if o.ID == 0 {
		return errors.New("cluster: node id 0")
	}
	if _, ok := o.Peers[o.ID]; !ok {
		return fmt.Errorf("cluster: node %d is not among the peers", o.ID)
	}
	if o.Apply == nil && o.ApplyOwn == nil {
		return errors.New("cluster: no Apply callback")
	}
	if o.Tick <= 0 {
		o.Tick = defaultTick
	}
	if o.ElectionTicks <= 0 {
		o.ElectionTicks = defaultElectionTicks
	}
	if o.HeartbeatTicks <= 0 {
		o.HeartbeatTicks = defaultHeartbeatTicks
	}
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > defaultMaxRecordBytes {
		o.MaxRecordBytes = defaultMaxRecordBytes
	}
	if o.HeartbeatTicks >= o.ElectionTicks {
		return fmt.Errorf("cluster: heartbeat (%d ticks) must be shorter than the election timeout (%d ticks)", o.HeartbeatTicks, o.ElectionTicks)
	}
	return nil
}

type proposal struct {
	pos  uint64
	data []byte // header + record
}

// Node is one member of a replicated group. Append, Wait, Leading and Close are safe for
// concurrent use; everything that touches Raft's state runs on the node's loop goroutine.
type Node struct {
	opts        Options
	incarnation uint64
	rn          *raft.RawNode
	ms          *raft.MemoryStorage
	log         *wal.Log
	tr          *transport
	propc       chan proposal
	appendc     chan *raftpb.Message // the loop's log appends, for the append goroutine
	localc      chan *raftpb.Message // the append goroutine's answers to this node's Raft
	appendErr   chan error           // the append goroutine's failure (capacity 1)
	appendDone  chan struct{}        // closed when the append goroutine has ended
	recvc       chan *raftpb.Message
	campaignc   chan struct{}
	transferc   chan struct{}
	stop        chan struct{}
	done        chan struct{}

	mu       sync.Mutex
	leader   bool
	leadingC chan struct{} // closed when this node becomes the leader; replaced when it stops leading
	// notLeadingC is closed while this node does not lead; replaced when it becomes the leader.
	notLeadingC chan struct{}
	// servingC is closed once this node leads and has applied an entry of its own term (so every
	// record committed before its term is applied); steppedC once a node that served stops
	// leading (or stops). Both fire once per process life: the switch is crash-only about it.
	servingC    chan struct{}
	steppedC    chan struct{}
	served      bool
	stepped     bool
	leaderTerm  uint64 // the term this node leads in (loop-owned while leading)
	leaderID    atomic.Uint64
	term        atomic.Uint64
	commitIndex atomic.Uint64
	applied     atomic.Uint64
	leaderSeen  atomic.Uint64 // leadership changes seen (a new non-zero leader id)
	nextPos     uint64
	waiting     map[uint64]chan error // by position: Append's proposals not yet committed or failed
	closed      bool

	// Owned by the append goroutine.
	buf    []byte            // the record being encoded
	lastHS *raftpb.HardState // the hard state last written
}

// Start opens (or creates) the node's log in opts.Dir, reads it back into Raft's storage and
// starts the node: its transport and its loop. A node whose log is empty starts the group with
// opts.Peers as its members.
func Start(opts Options) (*Node, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	var inc [8]byte
	if _, err := rand.Read(inc[:]); err != nil {
		return nil, fmt.Errorf("cluster: incarnation: %w", err)
	}
	l, err := wal.Open(wal.Options{Dir: opts.Dir, KeyID: opts.KeyID, Keys: opts.Keys})
	if err != nil {
		return nil, fmt.Errorf("cluster: open log: %w", err)
	}
	ms := raft.NewMemoryStorage()
	voters := make([]uint64, 0, len(opts.Peers))
	for id := range opts.Peers {
		voters = append(voters, id)
	}
	slices.Sort(voters)
	// The group starts from a snapshot at index 1 that holds its membership, as etcd raft's
	// docs advise over Bootstrap; every member starts from the same one.
	snap := raftpb.EnsureSnapshot(nil)
	snap.Metadata.Index = proto.Uint64(1)
	snap.Metadata.Term = proto.Uint64(1)
	snap.Metadata.ConfState.Voters = voters
	if err := ms.ApplySnapshot(snap); err != nil {
		l.Close()
		return nil, fmt.Errorf("cluster: initial state: %w", err)
	}
	records := 0
	if err := l.Replay(1, func(_ uint64, rec []byte) error { records++; return restore(ms, rec) }); err != nil {
		l.Close()
		return nil, fmt.Errorf("cluster: read log back: %w", err)
	}
	if records == 0 && !opts.NewGroup {
		l.Close()
		return nil, fmt.Errorf("%w (%s)", ErrEmptyLog, opts.Dir)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              opts.ID,
		ElectionTick:    opts.ElectionTicks,
		HeartbeatTick:   opts.HeartbeatTicks,
		Storage:         ms,
		MaxSizePerMsg:   defaultMaxMsgBytes,
		MaxInflightMsgs: defaultMaxInflight,
		// Past this a proposal is dropped: the leader's backlog, and so one append's entries,
		// stay bounded.
		MaxUncommittedEntriesSize: maxUncommittedBytes,
		// A leader cut off from the majority steps down after an election timeout, and a
		// rejoining node does not disrupt the group with a higher term.
		CheckQuorum: true,
		PreVote:     true,
		// Only the leader takes records: a follower refuses them (ErrNotLeader) rather than
		// forwarding, so the engine runs on the leader only.
		DisableProposalForwarding: true,
		// The log is written by a goroutine of its own (appendLoop): while an fdatasync runs
		// the loop goes on reading acknowledgements and sending entries, and RawNode counts
		// this node's copy (and lets it answer a leader) only once that goroutine says it is
		// durable.
		AsyncStorageWrites: true,
		Logger:             &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("cluster: raft: %w", err)
	}
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", opts.Peers[opts.ID]); err != nil {
			l.Close()
			return nil, fmt.Errorf("cluster: listen: %w", err)
		}
	}
	n := &Node{
		opts: opts, incarnation: binary.BigEndian.Uint64(inc[:]), rn: rn, ms: ms, log: l,
		propc:      make(chan proposal, proposalQueue),
		appendc:    make(chan *raftpb.Message, appendQueue),
		localc:     make(chan *raftpb.Message, appendQueue),
		appendErr:  make(chan error, 1),
		appendDone: make(chan struct{}),
		campaignc:  make(chan struct{}, 1),
		transferc:  make(chan struct{}, 1),
		recvc:      make(chan *raftpb.Message, recvQueue),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		leadingC:   make(chan struct{}),
		notLeadingC: func() chan struct{} {
			c := make(chan struct{})
			close(c)
			return c
		}(),
		servingC: make(chan struct{}),
		steppedC: make(chan struct{}),
		waiting:  map[uint64]chan error{},
	}
	if n.lastHS, _, err = ms.InitialState(); err != nil {
		l.Close()
		ln.Close()
		return nil, fmt.Errorf("cluster: initial state: %w", err)
	}
	n.tr = newTransport(ln, n.recvc)
	for id, addr := range opts.Peers {
		if id != opts.ID {
			n.tr.addPeer(id, addr)
		}
	}
	go n.loop()
	go n.appendLoop()
	return n, nil
}

// LogIsEmpty reports whether the node's log in dir holds no record (a member that has not yet
// taken part in a group, or one whose log was lost), without starting a node. keyID and keys
// are Options.KeyID and Options.Keys.
func LogIsEmpty(dir string, keyID byte, keys map[byte][]byte) (bool, error) {
	l, err := wal.Open(wal.Options{Dir: dir, KeyID: keyID, Keys: keys})
	if err != nil {
		return false, fmt.Errorf("cluster: open log: %w", err)
	}
	records := 0
	err = l.Replay(1, func(uint64, []byte) error { records++; return nil })
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("cluster: read log: %w", err)
	}
	return records == 0, nil
}

// restore reads one log record (an append's hard state and entries) into Raft's storage. A later
// record's entries replace a conflicting suffix, as they did when it was written.
func restore(ms *raft.MemoryStorage, rec []byte) error {
	hs, ents, err := decodeRecord(rec)
	if err != nil {
		return err
	}
	if hs != nil {
		if err := ms.SetHardState(hs); err != nil {
			return err
		}
	}
	return ms.Append(ents)
}

// Campaign asks the node to stand for election now rather than after its election timeout.
func (n *Node) Campaign() {
	select {
	case n.campaignc <- struct{}{}:
	default: // one is pending already
	}
}

// TransferLeadership asks this node, if it leads, to hand the leadership over to the member whose
// log is the most complete, and waits until it no longer leads (a planned restart: the group
// gets a new leader at once instead of after an election timeout). It gives up after timeout.
// Proposals are refused meanwhile (etcd raft drops them during a transfer); the caller stops
// proposing first.
func (n *Node) TransferLeadership(timeout time.Duration) error {
	if !n.IsLeader() {
		return nil
	}
	select {
	case n.transferc <- struct{}{}:
	default: // one is pending already
	}
	n.mu.Lock()
	notLeading := n.notLeadingC
	n.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-notLeading:
		return nil
	case <-n.done:
		return ErrClosed
	case <-t.C:
		return fmt.Errorf("cluster: leadership not handed over within %v", timeout)
	}
}

// transfer starts a leadership transfer to the most up-to-date other voter (loop goroutine).
func (n *Node) transfer() {
	st := n.rn.Status()
	if st.RaftState != raft.StateLeader {
		return
	}
	var to, best uint64
	for id, pr := range st.Progress {
		if id != n.opts.ID && (to == 0 || pr.Match > best) {
			to, best = id, pr.Match
		}
	}
	if to != 0 {
		n.rn.TransferLeader(to)
	}
}

// Leading returns a channel closed once this node is the leader (at once if it is now).
func (n *Node) Leading() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leadingC
}

// IsLeader reports whether this node leads the group now.
func (n *Node) IsLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader
}

// Serving returns a channel closed once this node leads and has applied an entry of its own
// term: every record committed before it took over has then been handed to Apply. A node
// promoted to serve waits for it (etcd raft commits an empty entry at the start of a term).
func (n *Node) Serving() <-chan struct{} { return n.servingC }

// Stepped returns a channel closed once this node, having served as leader (Serving), stops
// leading (or stops). It fires once per process life.
func (n *Node) Stepped() <-chan struct{} { return n.steppedC }

// Done returns a channel closed once the node stopped taking part in the group: closed, or its
// log failed (a failed write or fdatasync: it can no longer promise durability).
func (n *Node) Done() <-chan struct{} { return n.done }

// Status is what a node knows of the group, for health answers and metrics.
type Status struct {
	Leader   bool
	LeaderID uint64 // 0: no leader known
	Term     uint64
	// Commit is the highest index known committed; Applied the highest handed to Apply.
	Commit, Applied uint64
	// LeaderChanges counts the times a new leader was seen by this node.
	LeaderChanges uint64
}

// Status reports the node's view of the group.
func (n *Node) Status() Status {
	return Status{Leader: n.IsLeader(), LeaderID: n.leaderID.Load(), Term: n.term.Load(),
		Commit: n.commitIndex.Load(), Applied: n.applied.Load(), LeaderChanges: n.leaderSeen.Load()}
}

// Append proposes record and returns its position without waiting for the group; Wait(pos)
// does. Positions grow in the order of Append. Leader only: ErrNotLeader elsewhere.
func (n *Node) Append(record []byte) (uint64, error) {
	if len(record) > n.opts.MaxRecordBytes {
		return 0, fmt.Errorf("cluster: record of %d bytes, at most %d", len(record), n.opts.MaxRecordBytes)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return 0, ErrClosed
	}
	if !n.leader {
		n.mu.Unlock()
		return 0, ErrNotLeader
	}
	n.nextPos++
	pos := n.nextPos
	n.waiting[pos] = make(chan error, 1)
	n.mu.Unlock()
	data := make([]byte, headerBytes+len(record))
	binary.BigEndian.PutUint64(data, n.incarnation)
	binary.BigEndian.PutUint64(data[8:], pos)
	copy(data[headerBytes:], record)
	select {
	case n.propc <- proposal{pos, data}:
		return pos, nil
	case <-n.done:
		n.mu.Lock()
		delete(n.waiting, pos) // nobody will wait for a position Append did not return
		n.mu.Unlock()
		return 0, ErrClosed
	}
}

// Wait returns nil once the record at pos is committed: on the disks of a majority of the
// group. ErrInDoubt when leadership was lost (or the node closed) first.
func (n *Node) Wait(pos uint64) error {
	n.mu.Lock()
	ch, ok := n.waiting[pos]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("cluster: no record at position %d waits", pos)
	}
	err := <-ch
	n.mu.Lock()
	delete(n.waiting, pos)
	n.mu.Unlock()
	return err
}

// WaitTimeout is Wait bounded by d: past it the record is in doubt (ErrInDoubt) and nobody
// waits for it any more. A leader whose majority stops acknowledging (a stuck disk, a peer that
// answers heartbeats and not appends) keeps its leadership; the bound keeps its caller from
// waiting for ever.
func (n *Node) WaitTimeout(pos uint64, d time.Duration) error {
	n.mu.Lock()
	ch, ok := n.waiting[pos]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("cluster: no record at position %d waits", pos)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case err = <-ch:
	case <-t.C:
		err = fmt.Errorf("%w: not committed within %v", ErrInDoubt, d)
	}
	n.mu.Lock()
	delete(n.waiting, pos)
	n.mu.Unlock()
	return err
}

// finish tells pos's waiter; a position is finished once.
func (n *Node) finish(pos uint64, err error) {
	n.mu.Lock()
	ch, ok := n.waiting[pos]
	n.mu.Unlock()
	if ok {
		select {
		case ch <- err:
		default:
		}
	}
}

// failAll finishes every waiting position with err (leadership lost, or the node stopped).
func (n *Node) failAll(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.waiting {
		select {
		case ch <- err:
		default:
		}
	}
}

// Close stops the node: its loop, its transport and its log. Waiting records get ErrInDoubt.
func (n *Node) Close() error {
	n.mu.Lock()
	already := n.closed
	n.closed = true
	n.mu.Unlock()
	if already {
		<-n.done
		return nil
	}
	close(n.stop)
	<-n.done
	<-n.appendDone
	n.tr.close()
	return n.log.Close()
}

// loop is the only user of the RawNode: ticks, proposals and peers' messages come in by
// channel, and every Ready is handled before the next input.
func (n *Node) loop() {
	defer close(n.done)
	defer func() {
		// A node that stopped (closed, or its log failed) leads nothing: its waiters are in
		// doubt and Append refuses.
		n.setLeader(false)
		n.failAll(ErrInDoubt)
	}()
	t := time.NewTicker(n.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.rn.Tick()
		case <-n.campaignc:
			_ = n.rn.Campaign() // refused only by a node that is not a voter
		case <-n.transferc:
			n.transfer()
		case p := <-n.propc:
			n.propose(p)
			for more := true; more; {
				select {
				case p := <-n.propc:
					n.propose(p)
				default:
					more = false
				}
			}
		case m := <-n.localc:
			_ = n.rn.Step(m)
		case <-n.appendErr:
			// The log failed: this node can no longer promise durability. It stops taking
			// part; its waiters are in doubt.
			return
		case m := <-n.recvc:
			n.step(m)
			for more := true; more; {
				select {
				case m := <-n.recvc:
					n.step(m)
				default:
					more = false
				}
			}
		}
		for n.rn.HasReady() {
			if !n.handleReady(n.rn.Ready()) {
				return
			}
		}
		bs := n.rn.BasicStatus()
		n.term.Store(bs.HardState.GetTerm())
		n.commitIndex.Store(bs.HardState.GetCommit())
	}
}

func (n *Node) step(m *raftpb.Message) {
	// RawNode refuses a local message (a campaign, a proposal) that came over the wire; a
	// message of a stale term or from an unknown peer is dropped.
	_ = n.rn.Step(m)
}

func (n *Node) propose(p proposal) {
	if err := n.rn.Propose(p.data); err != nil {
		n.finish(p.pos, fmt.Errorf("%w: %v", ErrInDoubt, err))
	}
}

func (n *Node) setLeader(leader bool) {
	n.mu.Lock()
	was := n.leader
	n.leader = leader
	switch {
	case leader && !was:
		close(n.leadingC)
		n.notLeadingC = make(chan struct{})
	case !leader && was:
		n.leadingC = make(chan struct{})
		close(n.notLeadingC)
		// Only a leadership that served counts: one lost before its term's first entry was
		// applied never let anyone rely on it, and the node may lead again later.
		if !n.stepped && n.served {
			n.stepped = true
			close(n.steppedC)
		}
	}
	n.mu.Unlock()
	if was && !leader {
		n.failAll(ErrInDoubt)
	}
}

// handleReady hands the Ready's log appends to the append goroutine, applies its committed
// entries and sends the rest to the peers. Raft puts whatever must wait for this node's disk
// (its own acknowledgement, a follower's answer to the leader) in the appends' responses,
// which the append goroutine delivers once the record is durable; so the leader's appends go
// out to the followers while its own fdatasync runs. It reports false when the node must stop.
func (n *Node) handleReady(rd raft.Ready) bool {
	if rd.SoftState != nil {
		if lead := rd.SoftState.Lead; lead != n.leaderID.Load() {
			n.leaderID.Store(lead)
			if lead != raft.None {
				n.leaderSeen.Add(1)
			}
		}
		leading := rd.SoftState.RaftState == raft.StateLeader
		if leading && !n.IsLeader() {
			n.leaderTerm = n.rn.BasicStatus().HardState.GetTerm()
		}
		n.setLeader(leading)
	}
	for _, m := range rd.Messages {
		switch m.GetTo() {
		case raft.LocalAppendThread:
			for queued := false; !queued; {
				select {
				case n.appendc <- m:
					queued = true
				case r := <-n.localc: // the append goroutine may be waiting on us
					_ = n.rn.Step(r)
				case <-n.appendErr:
					return false
				}
			}
		case raft.LocalApplyThread:
			// Committed entries, durable on a majority and on this node.
			for _, e := range m.GetEntries() {
				n.applyEntry(e)
			}
			for _, r := range m.GetResponses() {
				_ = n.rn.Step(r)
			}
		default:
			n.tr.send(m)
		}
	}
	return true
}

func (n *Node) applyEntry(e *raftpb.Entry) {
	defer n.applied.Store(e.GetIndex())
	if e.GetTerm() == n.leaderTerm && n.leaderTerm != 0 {
		n.mu.Lock()
		if n.leader && !n.served {
			n.served = true
			close(n.servingC)
		}
		n.mu.Unlock()
	}
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
		d := e.GetData()
		if len(d) < headerBytes { // the empty entry a new leader commits its term with
			return
		}
		own := binary.BigEndian.Uint64(d) == n.incarnation
		var pos uint64
		if own {
			pos = binary.BigEndian.Uint64(d[8:])
		}
		if n.opts.ApplyOwn != nil {
			n.opts.ApplyOwn(e.GetIndex(), pos, d[headerBytes:])
		} else {
			n.opts.Apply(e.GetIndex(), d[headerBytes:])
		}
		if own {
			n.finish(pos, nil)
		}
	}
}

// appendLoop writes the log: each append message's hard state and entries as one record (or
// several, past logRecordBytes), the messages taken together in one fdatasync, then hands
// them to the storage Raft reads from and delivers their responses. It ends when the loop
// does, or at the first failure of the log, which it reports on appendErr.
func (n *Node) appendLoop() {
	defer close(n.appendDone)
	for {
		var batch []*raftpb.Message
		select {
		case m := <-n.appendc:
			batch = append(batch, m)
		case <-n.done:
			return
		}
		for more := true; more && len(batch) < appendBatch; {
			select {
			case m := <-n.appendc:
				batch = append(batch, m)
			default:
				more = false
			}
		}
		if err := n.writeAppends(batch); err != nil {
			n.appendErr <- err
			return
		}
		for _, m := range batch {
			for _, r := range m.GetResponses() {
				if r.GetTo() != n.opts.ID {
					n.tr.send(r) // a follower's answer to the leader, now that it is durable
					continue
				}
				select {
				case n.localc <- r:
				case <-n.done:
					return
				}
			}
		}
	}
}

// appendHardState is the hard state an append message carries: its term, vote and commit are
// all set when any of them changed, all unset otherwise.
func appendHardState(m *raftpb.Message) *raftpb.HardState {
	if m.Term == nil && m.Vote == nil && m.Commit == nil {
		return nil
	}
	return &raftpb.HardState{Term: proto.Uint64(m.GetTerm()), Vote: proto.Uint64(m.GetVote()), Commit: proto.Uint64(m.GetCommit())}
}

var errSnapshot = errors.New("cluster: a snapshot from the leader: snapshots are not supported yet")

func (n *Node) writeAppends(batch []*raftpb.Message) error {
	var seq uint64
	sync := false
	last := n.lastHS
	for _, m := range batch {
		if s := m.GetSnapshot(); s != nil && !raft.IsEmptySnap(s) {
			return errSnapshot
		}
		hs := appendHardState(m)
		ents := m.GetEntries()
		if hs == nil && len(ents) == 0 {
			continue
		}
		// Term, vote and entries must be on disk before the node answers or counts itself;
		// a commit index alone need not (it is learnt again from the leader).
		if raft.MustSync(hs, last, len(ents)) {
			sync = true
		}
		if hs != nil {
			last = hs
		}
		// Entries go in records of at most logRecordBytes; the hard state in the last, so a
		// record read back never says more is committed than the records before it hold.
		for first := true; first || len(ents) > 0; first = false {
			k, size := 0, 0
			for k < len(ents) && (k == 0 || size+proto.Size(ents[k]) <= logRecordBytes) {
				size += proto.Size(ents[k]) + binary.MaxVarintLen64
				k++
			}
			var recHS *raftpb.HardState
			if k == len(ents) {
				recHS = hs
			}
			var err error
			if n.buf, err = encodeRecord(n.buf[:0], recHS, ents[:k]); err != nil {
				return err
			}
			if seq, err = n.log.Append(n.buf); err != nil {
				return err
			}
			ents = ents[k:]
		}
	}
	if sync {
		if err := n.log.Wait(seq); err != nil {
			return err
		}
	}
	for _, m := range batch {
		if hs := appendHardState(m); hs != nil {
			n.lastHS = hs
			if err := n.ms.SetHardState(hs); err != nil {
				return err
			}
		}
		if err := n.ms.Append(m.GetEntries()); err != nil {
			return err
		}
	}
	return nil
}

// encodeRecord lays out a log record: the hard state (length 0 when unchanged), then each
// entry, each as a uvarint length and its protobuf encoding.
func encodeRecord(dst []byte, hs *raftpb.HardState, ents []*raftpb.Entry) ([]byte, error) {
	if hs == nil {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		b, err := proto.Marshal(hs)
		if err != nil {
			return dst, err
		}
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	for _, e := range ents {
		b, err := proto.Marshal(e)
		if err != nil {
			return dst, err
		}
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst, nil
}

var errBadRecord = errors.New("cluster: malformed log record")

func decodeRecord(b []byte) (*raftpb.HardState, []*raftpb.Entry, error) {
	next := func() ([]byte, error) {
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errBadRecord
		}
		field := b[k : k+int(size)]
		b = b[k+int(size):]
		return field, nil
	}
	f, err := next()
	if err != nil {
		return nil, nil, err
	}
	var hs *raftpb.HardState
	if len(f) > 0 {
		hs = &raftpb.HardState{}
		if err := proto.Unmarshal(f, hs); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errBadRecord, err)
		}
	}
	var ents []*raftpb.Entry
	for len(b) > 0 {
		f, err := next()
		if err != nil {
			return nil, nil, err
		}
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(f, e); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errBadRecord, err)
		}
		ents = append(ents, e)
	}
	return hs, ents, nil
}
