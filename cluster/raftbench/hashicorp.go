package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// hashiGroup is three hashicorp/raft nodes, each with its TCP transport on loopback and its log
// and stable store in raft-boltdb (bbolt, fsync on every StoreLogs).
type hashiGroup struct {
	nodes  []*hashiNode
	leader *raft.Raft
}

type hashiNode struct {
	r     *raft.Raft
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
}

// countFSM applies nothing: the bench measures the log, not a state machine.
type countFSM struct{ n uint64 }

func (f *countFSM) Apply(*raft.Log) any { f.n++; return nil }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, errors.New("no snapshots in the bench")
}
func (f *countFSM) Restore(r io.ReadCloser) error { return r.Close() }

// hashiElectionWait bounds how long the group may take to elect its first leader.
const hashiElectionWait = 10 * time.Second

func openHashicorp(dir string) (candidate, error) { return openHashicorpWith(dir, false) }

// openHashicorpBatched sets Config.BatchApplyCh: Apply's channel is buffered, so the leader
// takes up to MaxAppendEntries proposals into one StoreLogs (one bbolt commit) instead of one;
// with the default unbuffered channel a proposer that keeps several in flight still gets one
// bbolt commit per proposal.
func openHashicorpBatched(dir string) (candidate, error) { return openHashicorpWith(dir, true) }

func openHashicorpWith(dir string, batchApply bool) (candidate, error) {
	g := &hashiGroup{}
	var servers []raft.Server
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		store, err := raftboltdb.NewBoltStore(filepath.Join(d, "raft.db"))
		if err != nil {
			g.close()
			return nil, err
		}
		trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
		if err != nil {
			store.Close()
			g.close()
			return nil, err
		}
		g.nodes = append(g.nodes, &hashiNode{store: store, trans: trans})
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint(i + 1)), Address: trans.LocalAddr()})
	}
	for i, n := range g.nodes {
		cfg := raft.DefaultConfig()
		cfg.LocalID = servers[i].ID
		cfg.BatchApplyCh = batchApply
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
		// No snapshot during a measurement: the bench measures the log path only.
		cfg.SnapshotThreshold = 1 << 40
		cfg.SnapshotInterval = time.Hour
		snaps := raft.NewDiscardSnapshotStore()
		if i == 0 {
			if err := raft.BootstrapCluster(cfg, n.store, n.store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
				g.close()
				return nil, err
			}
		}
		r, err := raft.NewRaft(cfg, &countFSM{}, n.store, n.store, snaps, n.trans)
		if err != nil {
			g.close()
			return nil, err
		}
		n.r = r
	}
	deadline := time.Now().Add(hashiElectionWait)
	for g.leader == nil {
		for _, n := range g.nodes {
			if n.r.State() == raft.Leader {
				g.leader = n.r
			}
		}
		if g.leader == nil {
			if time.Now().After(deadline) {
				g.close()
				return nil, errors.New("hashicorp: no leader elected")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return g, nil
}

func (g *hashiGroup) propose(p []byte) (waiter, error) {
	f := g.leader.Apply(p, 0)
	return f.Error, nil
}

func (g *hashiGroup) close() error {
	var first error
	for _, n := range g.nodes {
		if n.r != nil {
			if err := n.r.Shutdown().Error(); err != nil && first == nil {
				first = err
			}
		}
		if n.trans != nil {
			n.trans.Close()
		}
		if n.store != nil {
			n.store.Close()
		}
	}
	return first
}
