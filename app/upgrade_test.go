package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
)

// The undelivered events of an earlier version's webhook outbox (mgmt/webhooks.log) are
// delivered after the upgrade, with their own ids and data; delivered ones and a torn last line
// are not; the file is set aside so a second start imports nothing.
func TestEarlierOutboxIsDeliveredAfterUpgrade(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(t)
	cfg.HTTP.WebhookURL, cfg.HTTP.WebhookSecret = hook.URL, "secret"
	dir := filepath.Join(cfg.DataDir, "mgmt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := `{"event":{"id":"evt_old1","seq":1,"type":"authorization.decided","createdAt":"2026-03-15T12:00:00Z","data":{"cardId":"crd_1","amount":"1.00"}},"status":"PENDING","attempts":3}
{"event":{"id":"evt_old2","seq":2,"type":"card.state_changed","createdAt":"2026-03-15T12:00:01Z","data":{"cardId":"crd_1","state":"LOCKED"}},"status":"PENDING"}
{"event":{"id":"evt_old3","seq":3,"type":"balance.low","createdAt":"2026-03-15T12:00:02Z","data":{}},"status":"PENDING"}
{"event":{"id":"evt_old3","seq":3,"type":"balance.low","createdAt":"2026-03-15T12:00:02Z","data":{}},"status":"DELIVERED"}
{"event":{"id":"evt_torn","seq":4,"type":"bala`
	if err := os.WriteFile(filepath.Join(dir, "webhooks.log"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *app.App {
		a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 2 || got[0]["id"] != "evt_old1" || got[1]["id"] != "evt_old2" ||
		got[0]["type"] != "authorization.decided" || got[0]["data"].(map[string]any)["amount"] != "1.00" ||
		got[1]["createdAt"] != "2026-03-15T12:00:01Z" {
		t.Fatalf("delivered %v", got)
	}
	got = nil
	mu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "webhooks.log.imported")); err != nil {
		t.Fatalf("the earlier outbox was not set aside: %v", err)
	}

	a = start() // nothing left to import or deliver
	time.Sleep(200 * time.Millisecond)
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("delivered again after a restart: %v", got)
	}
}
