package acquirer

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// An acquirer's connection list (docs/operations.md §10): a replicated group's members each
// have an ISO address, and only the leader accepts connections (a follower refuses them). The
// simulator and the client take a comma-separated list in --addr and connect to the first
// member that accepts; --http-addr likewise names the management API of every member, and the
// one whose /healthz answers 200 (the leader) is used.

// SplitAddrs splits a comma-separated address list, dropping empty items.
func SplitAddrs(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// DialList connects to the first address of the comma-separated list that accepts, each tried
// once with timeout, in order. The error names every address tried.
func DialList(list string, timeout time.Duration) (*Conn, error) {
	addrs := SplitAddrs(list)
	if len(addrs) == 0 {
		return nil, errors.New("acquirer: no ISO address given")
	}
	var errs []error
	for _, a := range addrs {
		c, err := Dial(a, timeout)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("acquirer: no member of %s accepted a connection: %w", list, errors.Join(errs...))
}

// LeaderHTTP returns the address of the list whose GET /healthz answers 200 (the leader of a
// group, or a single switch that is ready); the first address when none does yet.
func LeaderHTTP(list string, timeout time.Duration) string {
	addrs := SplitAddrs(list)
	if len(addrs) <= 1 {
		return list
	}
	hc := &http.Client{Timeout: timeout}
	for _, a := range addrs {
		base := a
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			base = "http://" + base
		}
		resp, err := hc.Get(strings.TrimRight(base, "/") + "/healthz")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return a
		}
	}
	return addrs[0]
}
