package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Cluster is the replicated group of `cardswitch serve --cluster` (docs/decisions/0011): the
// engine's batches are committed by a majority of the peers (etcd raft, cluster/), one leader
// serves, the followers apply the committed batches into their store. Without --cluster the
// section is not read, and serve is the single node it always was.
type Cluster struct {
	// NodeID is this node's id: one of Peers' ids.
	NodeID uint64 `yaml:"nodeId"`
	// Peers are every member of the group, this node included, identical on every node.
	Peers []Peer `yaml:"peers"`
	// RaftDir holds the node's copy of the replicated log (default <dataDir>/raft).
	RaftDir string `yaml:"raftDir"`
	// RaftListen is the address this node listens on for the group's traffic, when it is not
	// the raftAddr the others dial (a proxy, a NAT, a container; default: its raftAddr).
	RaftListen string `yaml:"raftListen"`
	// Tick is Raft's clock (default 10ms); ElectionTicks (default 100, so 1 s: a follower
	// that hears no leader for 1–2 s stands for election) and HeartbeatTicks (default 10)
	// count in it. A shorter election timeout fails over sooner and risks elections on a
	// loaded machine.
	Tick           time.Duration `yaml:"tick"`
	ElectionTicks  int           `yaml:"electionTicks"`
	HeartbeatTicks int           `yaml:"heartbeatTicks"`
	// CommitTimeout bounds the wait for a batch's commit on the leader (default 5s): past it
	// the batch is in doubt, its answers are withheld, and the leader exits to restart as a
	// follower, as when it loses its leadership. A leader cut off from the majority steps
	// down sooner (after an election timeout); this covers a majority that answers
	// heartbeats but does not acknowledge appends.
	CommitTimeout time.Duration `yaml:"commitTimeout"`
}

// Peer is one member of the group.
type Peer struct {
	ID uint64 `yaml:"id"`
	// RaftAddr is where the member listens for the group's traffic (HOST:PORT).
	RaftAddr string `yaml:"raftAddr"`
	// ISOAddr and HTTPAddr are the member's ISO 8583 and management API addresses as clients
	// reach them (optional): a follower names the leader's in its /healthz and 503 answers.
	ISOAddr  string `yaml:"isoAddr"`
	HTTPAddr string `yaml:"httpAddr"`
}

// Defaults of the cluster section.
const (
	DefaultClusterTick    = 10 * time.Millisecond
	DefaultElectionTicks  = 100
	DefaultHeartbeatTicks = 10
	DefaultCommitTimeout  = 5 * time.Second
)

// CommitTimeoutOrDefault is CommitTimeout with its default applied.
func (c *Cluster) CommitTimeoutOrDefault() time.Duration {
	if c.CommitTimeout <= 0 {
		return DefaultCommitTimeout
	}
	return c.CommitTimeout
}

// Configured reports whether the cluster section is filled in.
func (c *Cluster) Configured() bool { return c.NodeID != 0 || len(c.Peers) > 0 }

// Dir is the node's Raft directory: RaftDir, or <dataDir>/raft.
func (c *Cluster) Dir(dataDir string) string {
	if c.RaftDir != "" {
		return c.RaftDir
	}
	return filepath.Join(dataDir, "raft")
}

// Timing returns the tick and the election and heartbeat timeouts in ticks, defaults applied.
func (c *Cluster) Timing() (tick time.Duration, electionTicks, heartbeatTicks int) {
	tick, electionTicks, heartbeatTicks = c.Tick, c.ElectionTicks, c.HeartbeatTicks
	if tick == 0 {
		tick = DefaultClusterTick
	}
	if electionTicks == 0 {
		electionTicks = DefaultElectionTicks
	}
	if heartbeatTicks == 0 {
		heartbeatTicks = DefaultHeartbeatTicks
	}
	return tick, electionTicks, heartbeatTicks
}

// Peer returns the member with id.
func (c *Cluster) Peer(id uint64) (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// validateCluster checks the section when it is filled in; errors name the key.
func (c *Config) validateCluster() []error {
	cl := &c.Cluster
	if !cl.Configured() {
		return nil
	}
	var errs []error
	if len(cl.Peers) == 0 {
		errs = append(errs, errors.New("cluster.peers: at least one peer is needed (three for a group that survives a node)"))
	}
	ids, addrs := map[uint64]bool{}, map[string]bool{}
	for i, p := range cl.Peers {
		at := fmt.Sprintf("cluster.peers[%d]", i)
		if p.ID == 0 || ids[p.ID] {
			errs = append(errs, fmt.Errorf("%s.id: want a positive id, not repeated", at))
		}
		ids[p.ID] = true
		if !hostPort(p.RaftAddr) || addrs[p.RaftAddr] {
			errs = append(errs, fmt.Errorf("%s.raftAddr: want HOST:PORT, not repeated", at))
		}
		addrs[p.RaftAddr] = true
		if p.ISOAddr != "" && !hostPort(p.ISOAddr) {
			errs = append(errs, fmt.Errorf("%s.isoAddr: want HOST:PORT", at))
		}
		if p.HTTPAddr != "" && !hostPort(p.HTTPAddr) {
			errs = append(errs, fmt.Errorf("%s.httpAddr: want HOST:PORT", at))
		}
	}
	if cl.RaftListen != "" && !hostPort(cl.RaftListen) {
		errs = append(errs, errors.New("cluster.raftListen: want HOST:PORT"))
	}
	if cl.NodeID == 0 || !ids[cl.NodeID] {
		errs = append(errs, errors.New("cluster.nodeId: want the id of one of cluster.peers"))
	}
	if cl.Tick < 0 || (cl.Tick > 0 && cl.Tick < time.Millisecond) {
		errs = append(errs, errors.New("cluster.tick: want at least 1ms (0: the default 10ms)"))
	}
	if cl.ElectionTicks < 0 || cl.HeartbeatTicks < 0 {
		errs = append(errs, errors.New("cluster.electionTicks, cluster.heartbeatTicks: want positive counts (0: the defaults)"))
	} else if _, e, h := cl.Timing(); h >= e {
		errs = append(errs, errors.New("cluster.heartbeatTicks: want fewer than cluster.electionTicks"))
	}
	if cl.CommitTimeout < 0 {
		errs = append(errs, errors.New("cluster.commitTimeout: want a positive duration (0: the default 5s)"))
	} else if tick, e, _ := cl.Timing(); cl.CommitTimeout > 0 && cl.CommitTimeout <= tick*time.Duration(e) {
		errs = append(errs, errors.New("cluster.commitTimeout: want longer than the election timeout (tick × electionTicks)"))
	}
	if c.Engine.Journal == JournalBadger {
		errs = append(errs, errors.New("cluster: needs engine.journal: wal (the replicated log takes the write-ahead log's place)"))
	}
	return errs
}

func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}
