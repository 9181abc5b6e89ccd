package clustertest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterPromotionCost measures what a warm standby's promotion costs with a store of
// CARDSWITCH_CLUSTER_PROMOTION_CARDS cards (skipped without it): the group is seeded with one
// provisioned store copied to every node, the leader is killed three times, and each new
// leader's "ledger recovered" time (the Load of its store) and the kill-to-serving time are
// logged. It asserts nothing beyond the group serving again: it is a measurement.
func TestClusterPromotionCost(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	n, _ := strconv.Atoi(os.Getenv("CARDSWITCH_CLUSTER_PROMOTION_CARDS"))
	if bin == "" || n <= 0 {
		t.Skip("set CARDSWITCH_BIN and CARDSWITCH_CLUSTER_PROMOTION_CARDS")
	}
	g := newGroup(t, bin)
	seed := filepath.Join(t.TempDir(), "seed")
	if err := os.MkdirAll(seed, 0o700); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	out, err := exec.Command(bin, "provision", "--config", g.nodes[0].cfgPath, "--data-dir", seed,
		"--cards", strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, out)
	}
	t.Logf("provisioned %d cards in %v", n, time.Since(began).Round(time.Millisecond))
	for _, nd := range g.nodes {
		if out, err := exec.Command("cp", "-a", filepath.Join(seed, "ledger"), filepath.Join(nd.dir, "ledger")).CombinedOutput(); err != nil {
			t.Fatalf("copy the seed store: %v\n%s", err, out)
		}
	}
	for _, nd := range g.nodes {
		g.start(nd)
	}
	lead := g.leader()
	t.Logf("first leader node %d: recovered in %s", lead.id, recoveredIn(t, lead.logPath))
	for k := 0; k < 3; k++ {
		killed := time.Now()
		g.kill(lead)
		g.start(lead)
		next := g.leader()
		t.Logf("kill %d: node %d serves %v after the kill; its Load took %s", k+1, next.id,
			time.Since(killed).Round(time.Millisecond), recoveredIn(t, next.logPath))
		lead = next
	}
}

// recoveredIn reads the "ledger recovered" line's time from a node's log.
func recoveredIn(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"ledger recovered"`) {
			continue
		}
		var line struct {
			Took  string `json:"took"`
			Cards int    `json:"cards"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			return line.Took + " (" + strconv.Itoa(line.Cards) + " cards)"
		}
	}
	return "?"
}
