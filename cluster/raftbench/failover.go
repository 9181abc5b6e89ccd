package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/cardswitch/cardswitch/cluster"
)

// failoverPoll is how often the failover measurement looks for a new leader; it bounds the
// measurement's resolution.
const failoverPoll = time.Millisecond

// failoverWait bounds one failover; longer is reported as a failure.
const failoverWait = 30 * time.Second

// measureFailover runs a three-node cluster.Node group with its default timing and, kills
// times, closes the leader after a few commits and times how long until a record is committed
// on a new leader; the closed node is then started again from its log.
func measureFailover(dir string, kills, payloadBytes int) error {
	keys := benchKey()
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns[id], peers[id] = ln, ln.Addr().String()
	}
	opts := map[uint64]cluster.Options{}
	nodes := map[uint64]*cluster.Node{}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for id := uint64(1); id <= 3; id++ {
		opts[id] = cluster.Options{ID: id, Peers: peers, Dir: filepath.Join(dir, fmt.Sprint(id)), Keys: keys,
			Apply: func(uint64, []byte) {}, NewGroup: true}
		o := opts[id]
		o.Listener = lns[id]
		n, err := cluster.Start(o)
		if err != nil {
			return err
		}
		nodes[id] = n
	}
	nodes[1].Campaign()
	p := newPayload(payloadBytes)
	var took []time.Duration
	for k := range kills {
		id, err := commitOnLeader(nodes, p, 20)
		if err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		t0 := time.Now()
		nodes[id].Close()
		delete(nodes, id)
		if _, err := commitOnLeader(nodes, p, 1); err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		took = append(took, time.Since(t0))
		n, err := cluster.Start(opts[id])
		if err != nil {
			return fmt.Errorf("restart node %d: %w", id, err)
		}
		nodes[id] = n
	}
	slices.Sort(took)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("failover (leader closed → first record committed on a new leader), %d kills, cluster.Node defaults (tick %s): p50 %s, max %s, all:",
		kills, "10ms", ms(took[len(took)/2]), ms(took[len(took)-1]))
	for _, d := range took {
		fmt.Print(" ", ms(d))
	}
	fmt.Println()
	return nil
}

// commitOnLeader waits for one of nodes to lead, commits count records on it and returns its id.
func commitOnLeader(nodes map[uint64]*cluster.Node, p []byte, count int) (uint64, error) {
	deadline := time.Now().Add(failoverWait)
	done := 0
	for time.Now().Before(deadline) {
		for id, n := range nodes {
			if !n.IsLeader() {
				continue
			}
			pos, err := n.Append(p)
			if err == nil {
				err = n.Wait(pos)
			}
			if err == nil {
				if done++; done == count {
					return id, nil
				}
			}
		}
		time.Sleep(failoverPoll)
	}
	return 0, errors.New("no record committed on a leader")
}
