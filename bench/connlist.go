package bench

import (
	"context"
	"errors"
	"net"
	"strings"
)

// dialList connects to the first address of a comma-separated list that accepts: with a
// replicated group's members listed, only the leader listens on its ISO port
// (docs/operations.md §10). With a list, a connection that breaks during a run is dialled
// again the same way (client.reconnect); with one address it is not, as before.
func dialList(ctx context.Context, d *net.Dialer, list string) (net.Conn, error) {
	var errs []error
	for _, a := range splitList(list) {
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

// splitList returns the addresses of a comma-separated list.
func splitList(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
