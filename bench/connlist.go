package bench

import (
	"context"
	"errors"
	"net"
	"strings"
)

// dialList connects to the first address of a comma-separated list that accepts: with a
// replicated group's members listed, only the leader listens on its ISO port
// (docs/operations.md §10). A connection that breaks during a run is not redialled: the run
// counts it as failed (failover figures are issue 23's `make bench --cluster`, not done).
func dialList(ctx context.Context, d *net.Dialer, list string) (net.Conn, error) {
	var errs []error
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		nc, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no address")
	}
	return nil, errors.Join(errs...)
}
