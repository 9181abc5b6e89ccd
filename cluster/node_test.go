package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// group is three nodes of one process on loopback TCP, each with its log in its own directory.
type group struct {
	t       *testing.T
	nodes   map[uint64]*Node
	applied map[uint64]*appliedLog
}

// appliedLog is what one node's Apply callback received, in order.
type appliedLog struct {
	mu      sync.Mutex
	records [][]byte
	seen    chan []byte // every record, for a test waiting for one
}

func (a *appliedLog) apply(_ uint64, rec []byte) {
	c := bytes.Clone(rec)
	a.mu.Lock()
	a.records = append(a.records, c)
	a.mu.Unlock()
	select {
	case a.seen <- c:
	default:
	}
}

func (a *appliedLog) snapshot() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]byte(nil), a.records...)
}

// liveness bounds how long a test waits for an election or a commit: generous, as the machine
// is shared; the test's assertions do not depend on it.
const liveness = 30 * time.Second

func startGroup(t *testing.T) *group {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	lns := map[uint64]net.Listener{}
	peers := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		peers[id] = ln.Addr().String()
	}
	g := &group{t: t, nodes: map[uint64]*Node{}, applied: map[uint64]*appliedLog{}}
	for id := uint64(1); id <= 3; id++ {
		a := &appliedLog{seen: make(chan []byte, 1<<16)}
		g.applied[id] = a
		n, err := Start(Options{
			ID: id, Peers: peers, Listener: lns[id], Dir: t.TempDir(),
			Keys: map[byte][]byte{0: key}, Apply: a.apply, NewGroup: true,
			// A short election timeout keeps the test fast; a spurious election under load
			// only makes records in doubt, which the test allows.
			Tick: 5 * time.Millisecond, ElectionTicks: 60, HeartbeatTicks: 5,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.nodes[id] = n
	}
	t.Cleanup(func() {
		for _, n := range g.nodes {
			n.Close()
		}
	})
	return g
}

// leader waits for one of the live nodes to lead and returns its id.
func (g *group) leader() uint64 {
	g.t.Helper()
	deadline := time.After(liveness)
	for {
		for id, n := range g.nodes {
			if n.IsLeader() {
				return id
			}
		}
		// Wake on the first node to become leader (or re-check after a tick's worth).
		cases := make(chan struct{}, len(g.nodes))
		stop := make(chan struct{})
		for _, n := range g.nodes {
			go func(c <-chan struct{}) {
				select {
				case <-c:
					cases <- struct{}{}
				case <-stop:
				}
			}(n.Leading())
		}
		select {
		case <-cases:
		case <-deadline:
			close(stop)
			g.t.Fatal("no leader elected")
		}
		close(stop)
	}
}

// serving waits for a node to serve (Serving: it leads and applied an entry of its term) and
// returns its id. A leader elected under load may lose its leadership before it serves; another
// then does.
func (g *group) serving() uint64 {
	g.t.Helper()
	deadline := time.After(liveness)
	served := make(chan uint64, len(g.nodes))
	stop := make(chan struct{})
	defer close(stop)
	for id, n := range g.nodes {
		go func() {
			select {
			case <-n.Serving():
				served <- id
			case <-stop:
			}
		}()
	}
	select {
	case id := <-served:
		return id
	case <-deadline:
		g.t.Fatal("no node served")
		return 0
	}
}

func record(id uint64) []byte {
	b := make([]byte, 256)
	binary.BigEndian.PutUint64(b, id)
	copy(b[8:], fmt.Sprintf("record %d", id))
	return b
}

func recordID(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// appendCommitted appends on node n until it commits: a record in doubt (an election under
// load) is appended again under a new id.
func (g *group) appendCommitted(id uint64) uint64 {
	g.t.Helper()
	deadline := time.Now().Add(liveness)
	for rid := id; ; rid++ {
		if time.Now().After(deadline) {
			g.t.Fatal("no record committed")
		}
		n := g.nodes[g.leader()]
		pos, err := n.Append(record(rid))
		if err != nil {
			continue
		}
		if err := n.Wait(pos); err == nil {
			return rid
		}
	}
}

// streamUntilClose appends records rid first, first+1, ... on the leader n with up to 3 in
// flight, as the engine does, and closes n right after it proposed record first+killAfter-1,
// with records still in flight. It returns the ids whose Wait returned nil, how many were in
// doubt, the next unused id, and whether n was closed: when n lost its leadership first (an
// election at a busy moment), it stops there and the caller streams again on the new leader.
func streamUntilClose(t *testing.T, n *Node, first, killAfter uint64) (acked []uint64, inDoubt int, next uint64, closed bool) {
	t.Helper()
	const inflight = 3
	type pending struct {
		pos, rid uint64
	}
	pc := make(chan pending, inflight)
	waited := make(chan struct{})
	killAt := first + killAfter - 1
	kill := make(chan struct{})
	go func() {
		defer close(waited)
		for p := range pc {
			err := n.Wait(p.pos)
			switch {
			case err == nil:
				acked = append(acked, p.rid)
			case errors.Is(err, ErrInDoubt):
				inDoubt++
			default:
				t.Errorf("Wait(%d): %v", p.pos, err)
			}
		}
	}()
	appendDone := make(chan struct{})
	next = first
	go func() {
		defer close(appendDone)
		defer close(pc)
		for ; ; next++ {
			pos, err := n.Append(record(next))
			if err != nil {
				if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
					t.Errorf("Append: %v", err)
				}
				return
			}
			pc <- pending{pos, next}
			if next == killAt {
				close(kill)
			}
		}
	}()
	select {
	case <-kill:
	case <-waited:
		<-appendDone
		return acked, inDoubt, next, false
	case <-time.After(liveness):
		t.Fatalf("%d records not appended", killAfter)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("close the leader: %v", err)
	}
	<-appendDone
	<-waited
	return acked, inDoubt, next, true
}

// killLeader streams records on the group's leader until it has closed it, following the
// leadership if it moves first; it returns the closed node's id with what streamUntilClose
// returns, summed.
func (g *group) killLeader(first, killAfter uint64) (id uint64, acked []uint64, inDoubt int, next uint64) {
	g.t.Helper()
	next = first
	deadline := time.Now().Add(liveness)
	for {
		id = g.leader()
		a, d, nx, closed := streamUntilClose(g.t, g.nodes[id], next, killAfter)
		acked, inDoubt, next = append(acked, a...), inDoubt+d, nx
		if closed {
			if len(acked) == 0 {
				// Not a safety failure, but the test would prove nothing.
				g.t.Fatalf("no record acknowledged before the kill")
			}
			return id, acked, inDoubt, next
		}
		if time.Now().After(deadline) {
			g.t.Fatal("the leadership kept moving: no leader lasted until the kill")
		}
	}
}

// TestLeaderCloseLosesNoCommittedRecord: records are appended on the leader with up to 3 in
// flight, as the engine does; the leader is closed while they stream, at a random point so that
// runs differ in where the cut falls. Every record whose Wait
// returned nil on the old leader is in the new leader's applied log, once, and the surviving
// follower applied the same sequence.
func TestLeaderCloseLosesNoCommittedRecord(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	killAt := uint64(100 + mrand.IntN(100))
	oldID, acked, inDoubt, _ := g.killLeader(1, killAt)
	delete(g.nodes, oldID)

	// A record committed under the new leader: everything before it in the log is applied.
	marker := g.appendCommitted(1 << 40)
	newID := g.leader()
	if newID == oldID {
		t.Fatal("the closed node still leads")
	}
	var followerID uint64
	for id := range g.nodes {
		if id != newID {
			followerID = id
		}
	}
	waitApplied(t, g.applied[followerID], marker)

	leaderLog := g.applied[newID].snapshot()
	count := map[uint64]int{}
	for _, r := range leaderLog {
		count[recordID(r)]++
	}
	for id, c := range count {
		if c > 1 {
			t.Errorf("record %d applied %d times on the new leader", id, c)
		}
	}
	for _, id := range acked {
		if count[id] != 1 {
			t.Errorf("acknowledged record %d: applied %d times on the new leader, want 1", id, count[id])
		}
	}
	followerLog := g.applied[followerID].snapshot()
	if len(followerLog) < len(leaderLog) {
		t.Fatalf("follower applied %d records, the leader %d", len(followerLog), len(leaderLog))
	}
	for i := range leaderLog {
		if !bytes.Equal(leaderLog[i], followerLog[i]) {
			t.Fatalf("record %d differs between the new leader and the follower", i)
		}
	}
	t.Logf("leader closed %d records into its stream: %d acknowledged by it, %d in doubt, %d in the new leader's log",
		killAt, len(acked), inDoubt, len(leaderLog))
}

// waitApplied waits until a has applied the record with id rid.
func waitApplied(t *testing.T, a *appliedLog, rid uint64) {
	t.Helper()
	for _, r := range a.snapshot() {
		if recordID(r) == rid {
			return
		}
	}
	deadline := time.After(liveness)
	for {
		select {
		case r := <-a.seen:
			if recordID(r) == rid {
				return
			}
		case <-deadline:
			t.Fatalf("record %d not applied", rid)
		}
	}
}

// TestFollowerRefusesAppend: only the leader takes records; a follower says so and proposes
// nothing.
func TestFollowerRefusesAppend(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	leaderID := g.leader()
	for id, n := range g.nodes {
		if id == leaderID {
			continue
		}
		if _, err := n.Append(record(1)); !errors.Is(err, ErrNotLeader) {
			t.Errorf("node %d (follower): Append = %v, want ErrNotLeader", id, err)
		}
	}
	if _, err := g.nodes[leaderID].Append(make([]byte, defaultMaxRecordBytes+1)); err == nil {
		t.Error("a record above the limit was taken")
	}
}

// TestRestartedFollowerCatchesUp: a follower closed while the group goes on is started again
// from its own log; it reads its log back, applies every record again from the start, and then
// the ones committed while it was down, in the same order as the leader.
func TestRestartedFollowerCatchesUp(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	leaderID := g.leader()
	var followerID uint64
	for id := range g.nodes {
		if id != leaderID {
			followerID = id
			break
		}
	}
	for rid := uint64(1); rid <= 20; rid++ {
		g.appendCommitted(rid)
	}
	waitApplied(t, g.applied[followerID], 20)
	f := g.nodes[followerID]
	opts := f.opts
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	delete(g.nodes, followerID)
	for rid := uint64(100); rid < 120; rid++ {
		g.appendCommitted(rid) // the other two are a majority
	}

	// Started again on the same address and directory.
	opts.Listener = nil
	a := &appliedLog{seen: make(chan []byte, 1<<16)}
	opts.Apply = a.apply
	restarted, err := Start(opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	g.nodes[followerID] = restarted
	marker := g.appendCommitted(1 << 40)
	waitApplied(t, a, marker)
	want := g.applied[g.leader()].snapshot()
	got := a.snapshot()
	if len(got) < len(want) {
		t.Fatalf("restarted follower applied %d records, the leader %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: the restarted follower applied %d, the leader %d", i, recordID(got[i]), recordID(want[i]))
		}
	}
}

// TestLogRecordCodec: a record decodes to what was encoded, and a damaged one is an error,
// never a panic.
func TestLogRecordCodec(t *testing.T) {
	hs := &raftpb.HardState{Term: proto.Uint64(3), Vote: proto.Uint64(2), Commit: proto.Uint64(7)}
	ents := []*raftpb.Entry{
		{Term: proto.Uint64(3), Index: proto.Uint64(8), Data: []byte("a")},
		{Term: proto.Uint64(3), Index: proto.Uint64(9), Data: bytes.Repeat([]byte("b"), 300)},
	}
	for _, tc := range []struct {
		name string
		hs   *raftpb.HardState
		ents []*raftpb.Entry
	}{{"hard state and entries", hs, ents}, {"entries only", nil, ents}, {"hard state only", hs, nil}} {
		b, err := encodeRecord(nil, tc.hs, tc.ents)
		if err != nil {
			t.Fatalf("%s: encode: %v", tc.name, err)
		}
		gotHS, gotEnts, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", tc.name, err)
		}
		if (gotHS == nil) != (tc.hs == nil) || (gotHS != nil && !proto.Equal(gotHS, tc.hs)) {
			t.Errorf("%s: hard state %v, want %v", tc.name, gotHS, tc.hs)
		}
		if len(gotEnts) != len(tc.ents) {
			t.Fatalf("%s: %d entries, want %d", tc.name, len(gotEnts), len(tc.ents))
		}
		for i := range gotEnts {
			if !proto.Equal(gotEnts[i], tc.ents[i]) {
				t.Errorf("%s: entry %d = %v, want %v", tc.name, i, gotEnts[i], tc.ents[i])
			}
		}
		// A cut record (the log's checksum and seal rule that out) is refused or, cut between
		// two entries, reads as fewer; it never reads whole.
		for cut := range len(b) {
			_, e, err := decodeRecord(b[:cut])
			if err == nil && (len(tc.ents) == 0 || len(e) >= len(tc.ents)) {
				t.Errorf("%s: record cut at %d of %d read whole", tc.name, cut, len(b))
			}
		}
	}
	if _, _, err := decodeRecord([]byte{0xff, 0xff, 0xff}); err == nil {
		t.Error("garbage decoded")
	}
}

// TestRepeatedLeaderKills: the leader is closed under load and started again from its log,
// several times over. At the end every node's applied log (a restarted node's from its own log
// read back) is the same sequence, and holds every record any old leader acknowledged, once.
func TestRepeatedLeaderKills(t *testing.T) {
	const kills = 5
	g := startGroup(t)
	g.nodes[1].Campaign()
	var acked []uint64
	inDoubt := 0
	next := uint64(1)
	for range kills {
		id, a, d, nx := g.killLeader(next, uint64(20+mrand.IntN(60)))
		opts := g.nodes[id].opts
		acked, inDoubt, next = append(acked, a...), inDoubt+d, nx
		opts.Listener = nil
		log := &appliedLog{seen: make(chan []byte, 1<<16)}
		opts.Apply = log.apply
		restarted, err := Start(opts)
		if err != nil {
			t.Fatalf("restart node %d: %v", id, err)
		}
		g.nodes[id], g.applied[id] = restarted, log
	}
	marker := g.appendCommitted(1 << 40)
	for id := range g.nodes {
		waitApplied(t, g.applied[id], marker)
	}
	var ref [][]byte
	for id := range g.nodes {
		got := g.applied[id].snapshot()
		if ref == nil {
			ref = got
			count := map[uint64]int{}
			for _, r := range got {
				count[recordID(r)]++
			}
			for rid, c := range count {
				if c > 1 {
					t.Errorf("record %d applied %d times", rid, c)
				}
			}
			for _, rid := range acked {
				if count[rid] != 1 {
					t.Errorf("acknowledged record %d applied %d times, want 1", rid, count[rid])
				}
			}
			continue
		}
		// Nothing is appended after the marker: every node's log ends with it.
		if len(got) != len(ref) {
			t.Fatalf("node %d applied %d records, another %d", id, len(got), len(ref))
		}
		for i := range ref {
			if !bytes.Equal(got[i], ref[i]) {
				t.Fatalf("node %d: record %d is %d, another node's %d", id, i, recordID(got[i]), recordID(ref[i]))
			}
		}
	}
	t.Logf("%d leader kills: %d acknowledged, %d in doubt, %d in every node's log", kills, len(acked), inDoubt, len(ref))
}

// TestCutOffLeaderStopsCommitting: a leader cut off from both followers commits nothing more —
// a record appended on it is never acknowledged, only in doubt once it steps down — while the
// other two elect a leader and go on. Joined again, it follows, and its record is in no log.
func TestCutOffLeaderStopsCommitting(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	for rid := uint64(1); rid <= 5; rid++ {
		g.appendCommitted(rid)
	}
	oldID := g.leader()
	old := g.nodes[oldID]
	partition := func(cut bool) {
		for id, n := range g.nodes {
			if id != oldID {
				n.tr.setCut(oldID, cut)
				old.tr.setCut(id, cut)
			}
		}
	}
	partition(true)
	const lost = 1 << 50
	pos, err := old.Append(record(lost))
	if err != nil {
		t.Fatalf("Append on the leader just cut off: %v", err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- old.Wait(pos) }()

	// The two others elect a leader among themselves and commit.
	others := map[uint64]*Node{}
	for id, n := range g.nodes {
		if id != oldID {
			others[id] = n
		}
	}
	side := &group{t: t, nodes: others, applied: g.applied}
	marker := side.appendCommitted(1 << 40)

	select {
	case err := <-waitErr:
		if !errors.Is(err, ErrInDoubt) {
			t.Fatalf("Wait on the cut-off leader = %v, want ErrInDoubt", err)
		}
	case <-time.After(liveness):
		t.Fatal("the cut-off leader neither stepped down nor failed the record")
	}
	if old.IsLeader() {
		t.Error("the cut-off node still says it leads")
	}

	partition(false)
	waitApplied(t, g.applied[oldID], marker)
	for id := range g.nodes {
		for _, r := range g.applied[id].snapshot() {
			if recordID(r) == lost {
				t.Errorf("node %d applied the record appended on the cut-off leader", id)
			}
		}
	}
}

// TestServingAndStepped: the leader's Serving fires once it applied an entry of its own term,
// with its applied index then at least every record committed before; every node names the
// leader; Stepped fires on the leader when it stops, and records proposed by it are handed
// to ApplyOwn with their position.
func TestServingAndStepped(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	id := g.serving()
	n := g.nodes[id]
	rid := g.appendCommitted(1)
	if got := g.leader(); got != id {
		t.Skipf("leadership moved under load (%d -> %d)", id, got)
	}
	waitApplied(t, g.applied[id], rid)
	st := n.Status()
	if !st.Leader || st.LeaderID != id || st.Applied == 0 || st.Commit < st.Applied || st.LeaderChanges == 0 {
		t.Fatalf("leader status %+v", st)
	}
	for fid, f := range g.nodes {
		if fid == id {
			continue
		}
		waitApplied(t, g.applied[fid], rid)
		if fs := f.Status(); fs.Leader || fs.LeaderID != id {
			t.Fatalf("follower %d status %+v, leader %d", fid, fs, id)
		}
		select {
		case <-f.Stepped():
			t.Fatalf("follower %d stepped down without having led", fid)
		default:
		}
	}
	n.Close()
	select {
	case <-n.Stepped():
	case <-time.After(liveness):
		t.Fatal("a closed leader did not step down")
	}
}

// TestApplyOwnGivesPositions: ApplyOwn receives the position Append returned on the proposing
// node, and 0 on the others.
func TestApplyOwnGivesPositions(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	lns := map[uint64]net.Listener{}
	peers := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], peers[id] = ln, ln.Addr().String()
	}
	type got struct{ index, pos uint64 }
	seen := map[uint64]chan got{}
	nodes := map[uint64]*Node{}
	for id := uint64(1); id <= 3; id++ {
		ch := make(chan got, 64)
		seen[id] = ch
		n, err := Start(Options{ID: id, Peers: peers, Listener: lns[id], Dir: t.TempDir(),
			Keys: map[byte][]byte{0: key}, Tick: 5 * time.Millisecond, ElectionTicks: 60, HeartbeatTicks: 5, NewGroup: true,
			ApplyOwn: func(index, pos uint64, _ []byte) { ch <- got{index, pos} }})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
		defer n.Close()
	}
	nodes[1].Campaign()
	var lead uint64
	deadline := time.After(liveness)
	for lead == 0 {
		select {
		case <-nodes[1].Serving():
			lead = 1
		case <-nodes[2].Serving():
			lead = 2
		case <-nodes[3].Serving():
			lead = 3
		case <-deadline:
			t.Fatal("no node served")
		}
	}
	pos, err := nodes[lead].Append([]byte("one"))
	if err != nil {
		t.Skipf("leadership moved: %v", err)
	}
	if err := nodes[lead].Wait(pos); err != nil {
		t.Skipf("leadership moved: %v", err)
	}
	for id := uint64(1); id <= 3; id++ {
		select {
		case g := <-seen[id]:
			want := uint64(0)
			if id == lead {
				want = pos
			}
			if g.pos != want || g.index == 0 {
				t.Fatalf("node %d: ApplyOwn(index %d, pos %d), want pos %d", id, g.index, g.pos, want)
			}
		case <-time.After(liveness):
			t.Fatalf("node %d applied nothing", id)
		}
	}
}

// TestWaitTimeoutIsInDoubt: a record the group does not commit within the bound is in doubt,
// and nobody waits for it any more.
func TestWaitTimeoutIsInDoubt(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	id := g.leader()
	n := g.nodes[id]
	for peer := range g.nodes {
		if peer != id {
			n.tr.setCut(peer, true)
		}
	}
	pos, err := n.Append(record(1))
	if err != nil {
		t.Skipf("leadership moved: %v", err)
	}
	if err := n.WaitTimeout(pos, 50*time.Millisecond); !errors.Is(err, ErrInDoubt) {
		t.Fatalf("wait on a cut-off leader: %v, want ErrInDoubt", err)
	}
	n.mu.Lock()
	_, still := n.waiting[pos]
	n.mu.Unlock()
	if still {
		t.Fatal("a timed-out position is still waited for")
	}
}

// TestTransferLeadership: a leader hands its leadership over to another member (a planned
// restart) without waiting for an election timeout, and the group commits on the new leader.
func TestTransferLeadership(t *testing.T) {
	g := startGroup(t)
	g.nodes[1].Campaign()
	id := g.leader()
	g.appendCommitted(1)
	if err := g.nodes[id].TransferLeadership(liveness); err != nil {
		t.Fatal(err)
	}
	if g.nodes[id].IsLeader() {
		t.Fatal("still leading after the transfer")
	}
	// The group goes on: a record commits (on whichever member leads now).
	g.appendCommitted(100)
	for _, n := range g.nodes {
		if !n.IsLeader() {
			if err := n.TransferLeadership(time.Millisecond); err != nil && !n.IsLeader() {
				t.Fatalf("a follower's transfer: %v, want nil (nothing to hand over)", err)
			}
		}
	}
}

// TestEmptyLogRefusedUnlessNewGroup: a member with no log starts only when told it forms a new
// group; one whose log was lost must not rejoin under its id.
func TestEmptyLogRefusedUnlessNewGroup(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(Options{ID: 1, Peers: map[uint64]string{1: ln.Addr().String(), 2: "127.0.0.1:1"}, Listener: ln,
		Dir: t.TempDir(), Keys: map[byte][]byte{0: key}, Apply: func(uint64, []byte) {}})
	if !errors.Is(err, ErrEmptyLog) {
		t.Fatalf("start with an empty log: %v, want ErrEmptyLog", err)
	}
}

// TestLogIsEmpty: a directory without records is empty; a node's log after a commit is not.
func TestLogIsEmpty(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	keys := map[byte][]byte{0: key}
	if empty, err := LogIsEmpty(t.TempDir(), 0, keys); err != nil || !empty {
		t.Fatalf("a new directory: empty %v, %v", empty, err)
	}
	g := startGroup(t)
	g.nodes[1].Campaign()
	g.appendCommitted(1)
	id := g.leader()
	dir := g.nodes[id].opts.Dir
	g.nodes[id].Close()
	if empty, err := LogIsEmpty(dir, 0, g.nodes[id].opts.Keys); err != nil || empty {
		t.Fatalf("a used log: empty %v, %v", empty, err)
	}
}
