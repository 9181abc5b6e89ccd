package clustertest

import (
	"context"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClusterRestoreMember replaces a member's lost disk. A member whose Raft log is gone must not
// rejoin under its id (it would forget its votes and the records it acknowledged): started
// again with empty directories, it refuses to start, and the two others go on approving. The
// documented restore: stop the group, copy a surviving member's store and Raft log (both
// stopped) to the replaced member, start the three; after healing, the three books are equal.
func TestClusterRestoreMember(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	if bin == "" {
		t.Skip("CARDSWITCH_BIN is not set: run `make test-cluster`")
	}
	g := newGroup(t, bin)
	for _, n := range g.nodes {
		g.start(n)
	}
	lead := g.leader()
	cs := provision(t, lead, 2)
	v := &ledgerView{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		drive(ctx, g, v, cs, rand.New(rand.NewSource(7)), "577777")
	}()
	waitApprovals(t, v, 200)
	var lost *node
	for _, n := range g.nodes {
		if n != g.leader() {
			lost = n
			break
		}
	}
	g.kill(lost)
	for _, d := range []string{"ledger", "raft"} {
		if err := os.RemoveAll(filepath.Join(lost.dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	g.start(lost) // its supervisor restarts it: with an empty log it must refuse
	select {
	case <-lost.exited:
	case <-time.After(liveness):
		t.Fatal("a member with a lost log started")
	}
	if code := lost.cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatal("a member with a lost log exited 0")
	}
	if out, _ := os.ReadFile(lost.logPath); !strings.Contains(string(out), "must not rejoin under its id") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
	waitApprovals(t, v, 400) // the two left go on
	cancel()
	wg.Wait()

	// The restore: the group stopped, a survivor's store and log copied to the replaced member.
	var from *node
	for _, n := range g.nodes {
		if n != lost {
			from = n
		}
	}
	for _, n := range g.nodes {
		g.stop(n)
	}
	for _, d := range []string{"ledger", "raft"} {
		// Replaced, not merged: the refused start left empty directories there.
		if err := os.RemoveAll(filepath.Join(lost.dir, d)); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(from.dir, d), filepath.Join(lost.dir, d)).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", d, err, out)
		}
	}
	for _, n := range g.nodes {
		g.start(n)
	}
	g.healed()
	for _, n := range g.nodes {
		g.stop(n)
	}
	books := audit(t, g, v)
	t.Logf("node %d refused to rejoin with a lost log, then was restored from node %d's copy: %d auth records, identical on %d nodes",
		lost.id, from.id, books, nodes)
}

// TestClusterReseed re-forms a group from one member's store (the way to start a new, empty
// Raft log until snapshots exist): the group is stopped, one member's store is copied to the
// others, every Raft directory is emptied, and the members start once with --cluster-new. The
// store's position in the old log is dropped, so the new group's records are applied (they
// start at a low index again), and the books hold the old approvals and the new ones, the same
// on the three nodes.
func TestClusterReseed(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	if bin == "" {
		t.Skip("CARDSWITCH_BIN is not set: run `make test-cluster`")
	}
	g := newGroup(t, bin)
	for _, n := range g.nodes {
		g.start(n)
	}
	cs := provision(t, g.leader(), 2)
	v := &ledgerView{}
	run := func(seed int64, acq string, answers int) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			drive(ctx, g, v, cs, rand.New(rand.NewSource(seed)), acq)
		}()
		waitApprovals(t, v, answers)
		cancel()
		wg.Wait()
	}
	run(11, "566666", 300)
	g.healed()
	for _, n := range g.nodes {
		g.stop(n)
	}
	from := g.nodes[0]
	for _, n := range g.nodes {
		if err := os.RemoveAll(filepath.Join(n.dir, "raft")); err != nil {
			t.Fatal(err)
		}
		if n == from {
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.dir, "ledger")); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(from.dir, "ledger"), filepath.Join(n.dir, "ledger")).CombinedOutput(); err != nil {
			t.Fatalf("copy the store: %v\n%s", err, out)
		}
	}
	for _, n := range g.nodes {
		n.newGroup = true
		g.start(n)
	}
	run(12, "566667", 600) // new approvals on the new group (its log starts afresh)
	g.healed()
	for _, n := range g.nodes {
		g.stop(n)
	}
	books := audit(t, g, v)
	t.Logf("re-formed from node %d's store: %d auth records, identical on %d nodes", from.id, books, nodes)
}

// waitApprovals waits until the acquirer has seen at least n answers.
func waitApprovals(t *testing.T, v *ledgerView, n int) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		v.mu.Lock()
		got := 0
		for _, o := range v.auth {
			if o.answer != "" {
				got++
			}
		}
		v.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d answers in %v", n, liveness)
}
