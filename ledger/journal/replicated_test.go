package journal_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// fakeGroup stands for a replicated log (cluster.Node) under a leader's journal and a
// follower's: Append gives positions, commit hands a record to every member's journal with its
// index (the proposer with its position), Wait answers what commit or fail decided.
type fakeGroup struct {
	mu       sync.Mutex
	records  map[uint64][]byte // by position, proposed and not committed yet
	results  map[uint64]chan error
	nextPos  uint64
	index    uint64
	leader   *journal.Badger
	follower *journal.Badger
	// commitInAppend commits each record before Append returns (a commit faster than the
	// proposer's return).
	commitInAppend bool
}

func newFakeGroup() *fakeGroup {
	return &fakeGroup{records: map[uint64][]byte{}, results: map[uint64]chan error{}, index: 1}
}

func (g *fakeGroup) Append(payload []byte) (uint64, error) {
	g.mu.Lock()
	g.nextPos++
	pos := g.nextPos
	g.records[pos] = bytes.Clone(payload)
	g.results[pos] = make(chan error, 1)
	g.mu.Unlock()
	if g.commitInAppend {
		g.commit(pos)
	}
	return pos, nil
}

func (g *fakeGroup) Wait(pos uint64) error {
	g.mu.Lock()
	ch := g.results[pos]
	g.mu.Unlock()
	return <-ch
}

// commit commits the record at pos: both journals get it, in log order.
func (g *fakeGroup) commit(pos uint64) {
	g.mu.Lock()
	rec := g.records[pos]
	delete(g.records, pos)
	g.index++
	idx := g.index
	ch := g.results[pos]
	g.mu.Unlock()
	g.leader.ApplyCommitted(idx, pos, rec)
	if g.follower != nil {
		g.follower.ApplyCommitted(idx, 0, rec)
	}
	ch <- nil
}

func (g *fakeGroup) fail(pos uint64) { g.results[pos] <- errors.New("leadership lost") }

func openReplicated(t *testing.T, dir string, key []byte, log journal.ReplicatedLog) *journal.Badger {
	t.Helper()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, WAL: true,
		WALOptions: journal.WALOptions{Replicated: log, CheckpointBytes: 1, ApplyPace: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func lastEvent(t *testing.T, j *journal.Badger) uint64 {
	t.Helper()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil { // drains the applier first
		t.Fatal(err)
	}
	return st.LastEventSeq()
}

// A leader's records reach both members' Badger through the commit callback, in order; the
// leader reads its rows at once (before the commit), the follower once committed; a member
// restarted from its store skips the records its Badger holds when the group hands them again.
func TestReplicatedJournalFollowsCommits(t *testing.T) {
	for _, early := range []bool{false, true} {
		key := newKey(t)
		ldir, fdir := t.TempDir(), t.TempDir()
		g := newFakeGroup()
		g.commitInAppend = early
		g.leader = openReplicated(t, ldir, key, g)
		g.follower = openReplicated(t, fdir, key, g)
		markEmpty(t, g.leader)
		for seq := uint64(1); seq <= 10; seq++ {
			pos, err := g.leader.Append(eventBatch(seq))
			if err != nil {
				t.Fatal(err)
			}
			if !early {
				// Readable on the leader before the group commits it (the engine's next batch).
				if ev, err := g.leader.Events(seq-1, 1); err != nil || len(ev) != 1 || ev[0].Seq != seq {
					t.Fatalf("event %d not readable on the leader before its commit: %v %v", seq, ev, err)
				}
				g.commit(pos)
			}
			if err := g.leader.Wait(pos); err != nil {
				t.Fatal(err)
			}
		}
		if got := lastEvent(t, g.leader); got != 10 {
			t.Fatalf("early=%v: leader recovered to event %d, want 10", early, got)
		}
		if got := lastEvent(t, g.follower); got != 10 {
			t.Fatalf("early=%v: follower recovered to event %d, want 10", early, got)
		}
		if g.leader.AppliedIndex() != 11 || g.follower.AppliedIndex() != 11 {
			t.Fatalf("applied index %d and %d, want 11", g.leader.AppliedIndex(), g.follower.AppliedIndex())
		}
		if st := g.leader.WALStats(); st.BacklogBytes != 0 {
			t.Fatalf("early=%v: backlog %d after every record is applied", early, st.BacklogBytes)
		}
		g.leader.Close()
		g.follower.Close()

		// Restarted: the node hands its log again from the start; what Badger holds is
		// skipped (a different record at an old index changes nothing), what follows applies.
		f := openReplicated(t, fdir, key, g)
		f.ApplyCommitted(5, 0, encodeEvent(t, 99))
		f.ApplyCommitted(12, 0, encodeEvent(t, 11))
		if got := lastEvent(t, f); got != 11 {
			t.Fatalf("restarted follower at event %d, want 11", got)
		}
		if ev, err := f.Events(98, 1); err != nil || len(ev) != 0 {
			t.Fatalf("a record at an index Badger held was applied again: %v %v", ev, err)
		}
		f.Close()
	}
}

// encodeEvent is the payload a journal proposes for eventBatch(seq).
func encodeEvent(t *testing.T, seq uint64) []byte {
	t.Helper()
	g := newFakeGroup()
	j := openReplicated(t, t.TempDir(), newKey(t), g)
	defer j.Close()
	g.leader = j
	if _, err := j.Append(eventBatch(seq)); err != nil {
		t.Fatal(err)
	}
	return g.records[1]
}

// A record whose commit the leader cannot confirm (leadership lost) is in doubt: the engine
// withholds its answers and halts (journal.ErrInDoubt).
func TestReplicatedJournalLostLeadershipIsInDoubt(t *testing.T) {
	g := newFakeGroup()
	g.leader = openReplicated(t, t.TempDir(), newKey(t), g)
	defer g.leader.Close()
	markEmpty(t, g.leader)
	pos, err := g.leader.Append(eventBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	g.fail(pos)
	if err := g.leader.Wait(pos); !errors.Is(err, journal.ErrInDoubt) {
		t.Fatalf("wait after leadership lost: %v, want ErrInDoubt", err)
	}
}

// A new group's log starts at index 2 again: a store copied from an earlier group (a seed) has
// its position dropped when the group's log is fresh, so the new group's records are applied.
func TestReplicatedJournalFreshGroupDropsOldPosition(t *testing.T) {
	key, dir := newKey(t), t.TempDir()
	g := newFakeGroup()
	g.commitInAppend = true
	g.leader = openReplicated(t, dir, key, g)
	markEmpty(t, g.leader)
	for seq := uint64(1); seq <= 5; seq++ {
		if err := g.leader.Commit(eventBatch(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastEvent(t, g.leader); got != 5 || g.leader.AppliedIndex() != 6 {
		t.Fatalf("event %d at index %d, want 5 at 6", got, g.leader.AppliedIndex())
	}
	g.leader.Close()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, WAL: true,
		WALOptions: journal.WALOptions{Replicated: newFakeGroup(), ReplicatedFresh: true, CheckpointBytes: 1, ApplyPace: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.AppliedIndex() != 0 {
		t.Fatalf("a fresh group's journal at index %d, want 0", j.AppliedIndex())
	}
	j.ApplyCommitted(2, 0, encodeEvent(t, 6)) // the new group's first record
	if got := lastEvent(t, j); got != 6 {
		t.Fatalf("the new group's first record was not applied: last event %d, want 6", got)
	}
}
