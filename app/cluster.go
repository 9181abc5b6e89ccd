package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/cluster"
	"github.com/cardswitch/cardswitch/internal/metrics"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// A cluster node (serve --cluster, docs/decisions/0011-cluster-serve.md) starts as a follower:
// its journal opens with the group's log in place of the local write-ahead log, its Raft node
// starts, and every committed record reaches its store through the journal's applier. It serves
// only /healthz, /metrics and a 503 NOT_LEADER answer on the management port, and does not
// listen on the ISO port: an acquirer's connection to it is refused, so the acquirer goes on to
// the next address of its list. Once it leads and has applied everything committed before its
// term, it loads the State from its store and starts as a single switch does (start), the
// engine's batches made durable by the group's commit. A leader that stops leading ends the
// process (crash-only): it restarts as a follower.

// errLeadershipLost ends a leader's process when it stops leading.
var errLeadershipLost = errors.New("cluster: this node stopped leading the group; exiting to restart as a follower")

// errNodeStopped ends a process whose node stopped taking part (its log failed).
var errNodeStopped = errors.New("cluster: the Raft node stopped (its log failed); exiting")

// clusterFailStop bounds the shutdown of a leader that lost its leadership or had a batch in
// doubt: its engine answers nothing more, and the group goes on without it.
const clusterFailStop = 2 * time.Second

// clusterNode is the App's part in the group.
type clusterNode struct {
	node    *cluster.Node
	log     *nodeLog
	metrics *metrics.Cluster
	journal *journal.Badger

	follower   *http.Server // the management port while following; nil once promoted
	followerLn net.Listener
	followed   chan struct{} // closed when the follower server's Serve returned
}

// storeIndex is the highest Raft index this node's store holds: every entry up to the node's
// applied index once the journal's applier has nothing left (entries without a record, a new
// term's empty one, never reach the journal), else the last record the applier wrote.
func (c *clusterNode) storeIndex() uint64 {
	applied := c.node.Status().Applied // read first: a record handed before it is queued by now
	if c.journal.WALStats().BacklogBytes == 0 {
		return applied
	}
	return c.journal.AppliedIndex()
}

// nodeLog is the journal's replicated log over the node, timing each commit (Append to Wait).
type nodeLog struct {
	n       *cluster.Node // set once the node started (the journal opens first: the node applies into it)
	timeout time.Duration // cluster.commitTimeout: past it a batch is in doubt
	metrics *metrics.Cluster
	mu      sync.Mutex
	began   map[uint64]time.Time // by position: proposals not yet waited for
}

func (l *nodeLog) Append(payload []byte) (uint64, error) {
	began := time.Now()
	pos, err := l.n.Append(payload)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.began[pos] = began
	l.mu.Unlock()
	return pos, nil
}

func (l *nodeLog) Wait(pos uint64) error {
	err := l.n.WaitTimeout(pos, l.timeout)
	l.mu.Lock()
	began, ok := l.began[pos]
	delete(l.began, pos)
	l.mu.Unlock()
	if err == nil && ok {
		l.metrics.Committed(time.Since(began))
	}
	return err
}

// follow opens the journal, starts the node and serves the follower's management port until the
// node may serve (true), or ctx ends or the App is shut down (false), or a component fails.
func (a *App) follow(ctx context.Context) (bool, error) {
	if err := a.startFollower(); err != nil {
		return false, err
	}
	cl := a.cl
	select {
	case <-cl.node.Serving():
	case <-ctx.Done():
		return false, nil
	case <-a.stopping:
		return false, nil
	case err := <-a.failed:
		return false, err
	case <-cl.node.Done():
		return false, errNodeStopped
	}
	a.log.Info("cluster: this node leads the group; loading the ledger to serve",
		"nodeId", a.cfg.Cluster.NodeID, "appliedIndex", cl.storeIndex())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopFollowerServer()
	return true, nil
}

// startFollower opens the journal over the group's log, starts the node and the follower's
// management port.
func (a *App) startFollower() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isStopping() {
		return errors.New("app: shut down before start")
	}
	cfg, log := a.cfg, a.log
	cc := &cfg.Cluster
	if !cc.Configured() {
		return errors.New("serve --cluster: the configuration has no cluster section (cluster.nodeId, cluster.peers)")
	}
	// Archiving writes auth records to a file of this node's only, which the group does not
	// replicate: a failover would lose them. It stays off in a group.
	if cfg.Engine.ArchiveAfter >= 0 {
		log.Warn("cluster: engine.archiveAfter is ignored in a group (the archive is not replicated); auth records stay in the store")
		cfg.Engine.ArchiveAfter = -1
	}
	keyID, keys := cfg.DataKeys()
	old := map[byte][]byte{}
	for id, k := range keys {
		if id != keyID {
			old[id] = k
		}
	}
	cl := &clusterNode{followed: make(chan struct{})}
	a.cl = cl
	cl.log = &nodeLog{began: map[uint64]time.Time{}, timeout: cc.CommitTimeoutOrDefault()}
	// An empty Raft log is a new group (the node refuses it without --cluster-new): a store
	// copied in as its seed may hold a position in an earlier group's log, which the journal
	// drops, or the new group's first records would be taken for ones it holds.
	fresh, err := cluster.LogIsEmpty(cc.Dir(cfg.DataDir), keyID, keys)
	if err != nil {
		return err
	}
	if fresh && !a.opts.ClusterNew {
		return fmt.Errorf("%w (%s); see docs/operations.md §10", cluster.ErrEmptyLog, cc.Dir(cfg.DataDir))
	}
	if cl.journal, err = journal.OpenBadger(journal.Options{Dir: filepath.Join(cfg.DataDir, "ledger"),
		DataKey: keys[keyID], DataKeyID: keyID, OldDataKeys: old, Logger: log, WAL: true,
		WALOptions: journal.WALOptions{CheckpointInterval: cfg.Engine.CheckpointInterval, Replicated: cl.log,
			ReplicatedFresh: fresh}}); err != nil {
		return err
	}
	a.journal = cl.journal // closed by stop, after the node
	peers := map[uint64]string{}
	for _, p := range cc.Peers {
		peers[p.ID] = p.RaftAddr
	}
	tick, election, heartbeat := cc.Timing()
	var raftLn net.Listener // nil: the node listens on its raftAddr
	if cc.RaftListen != "" {
		if raftLn, err = net.Listen("tcp", cc.RaftListen); err != nil {
			return fmt.Errorf("cluster.raftListen: %w", err)
		}
	}
	if cl.node, err = cluster.Start(cluster.Options{ID: cc.NodeID, Peers: peers, Dir: cc.Dir(cfg.DataDir), Listener: raftLn,
		KeyID: keyID, Keys: keys, ApplyOwn: cl.journal.ApplyCommitted, NewGroup: a.opts.ClusterNew,
		Tick: tick, ElectionTicks: election, HeartbeatTicks: heartbeat}); err != nil {
		if raftLn != nil {
			raftLn.Close()
		}
		return err
	}
	cl.log.n = cl.node
	cl.metrics = metrics.NewCluster(metrics.ClusterGauges{
		Leader: func() float64 {
			if cl.node.IsLeader() {
				return 1
			}
			return 0
		},
		LeaderChanges: func() float64 { return float64(cl.node.Status().LeaderChanges) },
		CommitIndex:   func() float64 { return float64(cl.node.Status().Commit) },
		AppliedIndex:  func() float64 { return float64(cl.storeIndex()) },
	})
	cl.log.metrics = cl.metrics
	if cl.followerLn, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", cl.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		status, body := a.clusterHealth()
		writeJSON(w, status, body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		leader, _ := a.leaderAddrs()
		writeJSON(w, http.StatusServiceUnavailable, notLeaderBody{Code: "NOT_LEADER",
			Message: "this node follows the group's leader; send the request to the leader", Leader: leader})
	})
	cl.follower = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(cl.followed)
		if err := cl.follower.Serve(cl.followerLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.fail(fmt.Errorf("management API (follower): %w", err))
		}
	}()
	if len(old) > 0 {
		// Every node re-encrypts its own store after a data-key rotation, follower or not
		// (the steps are ordered with the applier's writes by the journal's lock).
		a.rotation = make(chan struct{})
		a.rotationDone = make(chan struct{})
		go a.reencrypt(cl.journal)
	}
	log.Info("cluster: following", "nodeId", cc.NodeID, "raft", peers[cc.NodeID], "http", cl.followerLn.Addr().String(),
		"appliedIndex", cl.storeIndex())
	return nil
}

// stopFollowerServer closes the follower's management port (promotion or shutdown); a.mu held.
func (a *App) stopFollowerServer() {
	cl := a.cl
	if cl == nil || cl.follower == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := cl.follower.Shutdown(ctx); err != nil {
		cl.follower.Close()
	}
	<-cl.followed
	cl.follower = nil
}

// watchLeadership ends the process's service when the node stops leading (crash-only).
func (a *App) watchLeadership() {
	select {
	case <-a.cl.node.Stepped():
		if !a.isStopping() { // a shutdown closes the node, which steps down: not a failure
			a.fail(errLeadershipLost)
		}
	case <-a.stopping:
	}
}

// handOverTimeout bounds a stopping leader's wait for its leadership to move.
const handOverTimeout = 2 * time.Second

// handOver hands a stopping leader's leadership to the most up-to-date member (a planned
// restart: SIGTERM). Not after a failure: a leader that failed has stepped down already, or its
// log is broken. The engine has stopped, so nothing more is proposed.
func (a *App) handOver(ctx context.Context) {
	if !a.cl.node.IsLeader() {
		return
	}
	timeout := handOverTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	began := time.Now()
	if err := a.cl.node.TransferLeadership(timeout); err != nil {
		a.log.Warn("cluster: leadership not handed over; the group elects a leader after its election timeout", "err", err)
		return
	}
	a.log.Info("cluster: leadership handed over", "took", time.Since(began).Round(time.Millisecond).String(),
		"leaderId", a.cl.node.Status().LeaderID)
}

// leaderAddrs are the leader's management and ISO addresses as configured ("" when no leader
// is known or the peer list does not give them).
func (a *App) leaderAddrs() (httpAddr, isoAddr string) {
	id := a.cl.node.Status().LeaderID
	if id == 0 {
		return "", ""
	}
	p, _ := a.cfg.Cluster.Peer(id)
	return p.HTTPAddr, p.ISOAddr
}

type notLeaderBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Leader  string `json:"leader"`
}

// clusterHealth is GET /healthz on a cluster node: 200 {"status":"ok","role":"leader",...} on
// the leader serving; 503 {"status":"follower","leader":...} on a follower that knows a leader;
// 503 {"status":"no_quorum"} when no leader is known (an election under way, or too few
// members up to elect one).
func (a *App) clusterHealth() (int, any) {
	st := a.cl.node.Status()
	if st.Leader && a.ready.Load() {
		return http.StatusOK, map[string]any{"status": "ok", "role": "leader", "nodeId": a.cfg.Cluster.NodeID,
			"term": st.Term, "commitIndex": st.Commit, "appliedIndex": a.cl.storeIndex()}
	}
	if st.LeaderID == 0 {
		return http.StatusServiceUnavailable, map[string]any{"status": "no_quorum", "nodeId": a.cfg.Cluster.NodeID,
			"appliedIndex": a.cl.storeIndex()}
	}
	leader, iso := a.leaderAddrs()
	return http.StatusServiceUnavailable, map[string]any{"status": "follower", "leader": leader, "leaderIso": iso,
		"leaderId": st.LeaderID, "nodeId": a.cfg.Cluster.NodeID, "term": st.Term, "commitIndex": st.Commit,
		"appliedIndex": a.cl.storeIndex()}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
