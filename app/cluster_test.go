package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type healthAnswer struct {
	code   int
	Status string `json:"status"`
	Role   string `json:"role"`
	Leader string `json:"leader"`
	Code   string `json:"code"`
}

func getJSON(t *testing.T, url string) healthAnswer {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return healthAnswer{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	h := healthAnswer{code: resp.StatusCode}
	_ = json.Unmarshal(raw, &h)
	return h
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// Three cluster nodes in one process: one leads and serves (an authorization is answered through
// the group's commit), the others refuse ISO connections, answer 503 NOT_LEADER naming the
// leader, say "follower" on /healthz, and export the cluster metrics; a shutdown is clean on
// every node (Run returns nil: stepping down at shutdown is not a failure).
func TestClusterNodesLeaderServesFollowersRefuse(t *testing.T) {
	base := testConfig(t)
	keyFiles, err := os.ReadDir(base.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		cfg  *config.Config
		app  *app.App
		ran  chan error
		http string
	}
	var peers []config.Peer
	var ms []*member
	for id := uint64(1); id <= 3; id++ {
		c := *base
		c.Cluster = config.Cluster{}
		if id > 1 {
			c.DataDir = t.TempDir()
			for _, f := range keyFiles { // every member has the same keys
				if f.Type().IsRegular() {
					raw, err := os.ReadFile(filepath.Join(base.DataDir, f.Name()))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(c.DataDir, f.Name()), raw, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		c.ISO.Addr, c.HTTP.Addr = freeAddr(t), freeAddr(t)
		peers = append(peers, config.Peer{ID: id, RaftAddr: freeAddr(t), ISOAddr: c.ISO.Addr, HTTPAddr: c.HTTP.Addr})
		ms = append(ms, &member{cfg: &c, http: c.HTTP.Addr, ran: make(chan error, 1)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, m := range ms {
		// The default timing (1 s election timeout): a shorter one invites elections on a busy
		// machine, and the test needs one leader throughout.
		m.cfg.Cluster = config.Cluster{NodeID: uint64(i + 1), Peers: peers}
		if err := m.cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		m.app = app.New(m.cfg, slog.New(slog.DiscardHandler), app.Options{Cluster: true, ClusterNew: true})
		go func() { m.ran <- m.app.Run(ctx) }()
	}
	var lead *member
	deadline := time.Now().Add(30 * time.Second)
	for lead == nil {
		if time.Now().After(deadline) {
			t.Fatal("no node became a serving leader")
		}
		for _, m := range ms {
			if h := getJSON(t, "http://"+m.http+"/healthz"); h.code == 200 && h.Status == "ok" && h.Role == "leader" {
				lead = m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", lead.app.ISOAddr())
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange(c, authFrame(t)); err != nil {
		t.Fatalf("the leader did not answer an authorization: %v", err)
	}
	c.Close()
	if !strings.Contains(metricsText(t, lead.http), "cardswitch_cluster_leader 1") {
		t.Error("the leader's /metrics lacks cardswitch_cluster_leader 1")
	}
	for _, m := range ms {
		if m == lead {
			continue
		}
		// The follower knows the leader once it heard from it (at the latest with the commit).
		var h healthAnswer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if h = getJSON(t, "http://"+m.http+"/healthz"); h.Leader != "" {
				break
			}
		}
		if h.code != 503 || h.Status != "follower" || h.Leader != lead.http {
			t.Errorf("follower /healthz: %+v, want 503 follower naming %s", h, lead.http)
		}
		if r := getJSON(t, "http://"+m.http+"/secure/customers/cu1"); r.code != 503 || r.Code != "NOT_LEADER" || r.Leader != lead.http {
			t.Errorf("follower management answer: %+v, want 503 NOT_LEADER naming the leader", r)
		}
		if conn, err := net.DialTimeout("tcp", m.cfg.ISO.Addr, time.Second); err == nil {
			conn.Close()
			t.Error("a follower accepted an ISO connection")
		}
		if txt := metricsText(t, m.http); !strings.Contains(txt, "cardswitch_cluster_leader 0") ||
			!strings.Contains(txt, "cardswitch_cluster_replication_lag") {
			t.Error("a follower's /metrics lacks the cluster metrics")
		}
	}
	cancel()
	for i, m := range ms {
		select {
		case err := <-m.ran:
			if err != nil {
				t.Errorf("node %d: Run returned %v after a clean shutdown", i+1, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("node %d did not stop", i+1)
		}
	}
}
