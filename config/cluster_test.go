package config

import (
	"strings"
	"testing"
	"time"
)

func TestClusterValidation(t *testing.T) {
	base := func() *Config {
		c, err := Load("", Overrides{DataDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := Cluster{NodeID: 2, Peers: []Peer{{ID: 1, RaftAddr: "10.0.0.1:7000"}, {ID: 2, RaftAddr: "10.0.0.2:7000", ISOAddr: "10.0.0.2:8583"},
		{ID: 3, RaftAddr: "10.0.0.3:7000"}}}
	c := base()
	if c.Cluster.Configured() {
		t.Fatal("the development profile has no cluster section")
	}
	c.Cluster = good
	if err := c.Validate(); err != nil {
		t.Fatalf("a good section: %v", err)
	}
	if tick, e, h := c.Cluster.Timing(); tick != 10*time.Millisecond || e != 100 || h != 10 {
		t.Fatalf("timing defaults %v %d %d", tick, e, h)
	}
	if d := c.Cluster.Dir("/var/cs"); d != "/var/cs/raft" {
		t.Fatalf("raft dir default %s", d)
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		key  string
	}{
		"node not a peer":      {func(c *Config) { c.Cluster.NodeID = 9 }, "cluster.nodeId"},
		"no node id":           {func(c *Config) { c.Cluster.NodeID = 0 }, "cluster.nodeId"},
		"repeated id":          {func(c *Config) { c.Cluster.Peers[2].ID = 1 }, "cluster.peers[2].id"},
		"bad raft address":     {func(c *Config) { c.Cluster.Peers[0].RaftAddr = "nowhere" }, "cluster.peers[0].raftAddr"},
		"repeated address":     {func(c *Config) { c.Cluster.Peers[1].RaftAddr = "10.0.0.1:7000" }, "cluster.peers[1].raftAddr"},
		"bad iso address":      {func(c *Config) { c.Cluster.Peers[1].ISOAddr = "x:0" }, "cluster.peers[1].isoAddr"},
		"heartbeat too long":   {func(c *Config) { c.Cluster.ElectionTicks, c.Cluster.HeartbeatTicks = 5, 5 }, "cluster.heartbeatTicks"},
		"commit timeout short": {func(c *Config) { c.Cluster.CommitTimeout = 500 * time.Millisecond }, "cluster.commitTimeout"},
		"bad listen address":   {func(c *Config) { c.Cluster.RaftListen = "here" }, "cluster.raftListen"},
		"tick too short":       {func(c *Config) { c.Cluster.Tick = time.Microsecond }, "cluster.tick"},
		"badger journal":       {func(c *Config) { c.Engine.Journal = JournalBadger }, "engine.journal: wal"},
	} {
		c := base()
		c.Cluster = good
		c.Cluster.Peers = append([]Peer(nil), good.Peers...)
		tc.edit(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.key)
		}
	}
}
