package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/cluster"
)

// clusterGroup is the package built on the choice, cluster.Node, measured as the candidates
// are: three nodes, proposals on the leader, Wait for the majority's commit.
type clusterGroup struct {
	nodes  []*cluster.Node
	leader *cluster.Node
}

func openClusterNode(dir string) (candidate, error) {
	keys := benchKey()
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns[id], peers[id] = ln, ln.Addr().String()
	}
	g := &clusterGroup{}
	for id := uint64(1); id <= 3; id++ {
		n, err := cluster.Start(cluster.Options{ID: id, Peers: peers, Listener: lns[id],
			Dir: filepath.Join(dir, fmt.Sprint(id)), Keys: keys, Apply: func(uint64, []byte) {}, NewGroup: true})
		if err != nil {
			g.close()
			return nil, err
		}
		g.nodes = append(g.nodes, n)
	}
	g.nodes[0].Campaign()
	select {
	case <-g.nodes[0].Leading():
		g.leader = g.nodes[0]
	case <-time.After(hashiElectionWait):
		g.close()
		return nil, errors.New("cluster: node 1 not elected")
	}
	return g, nil
}

func (g *clusterGroup) propose(p []byte) (waiter, error) {
	pos, err := g.leader.Append(p)
	if err != nil {
		return nil, err
	}
	return func() error { return g.leader.Wait(pos) }, nil
}

func (g *clusterGroup) close() error {
	var first error
	for _, n := range g.nodes {
		if err := n.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
