package notify

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/cardswitch/cardswitch/ledger"
)

// LegacyOutboxFile is the webhook outbox of versions before events were rows of the journal
// (<dataDir>/mgmt/webhooks.log): JSON lines of {"event": envelope, "status": ...}, the last
// line of an event id winning.
const LegacyOutboxFile = "webhooks.log"

// ReadLegacyOutbox returns the envelopes of the events an earlier version's outbox at path had
// not delivered yet (status PENDING), in their sequence order: what ledger.ImportEvents
// records so that delivery goes on after an upgrade. A missing file is no event; a torn last
// line (a crash while it was written) is skipped.
func ReadLegacyOutbox(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notify: legacy outbox: %w", err)
	}
	defer f.Close()
	type line struct {
		Event  json.RawMessage `json:"event"`
		Status string          `json:"status"`
	}
	type head struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	type entry struct {
		seq     uint64
		event   json.RawMessage
		pending bool
	}
	byID := map[string]*entry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l line
		var h head
		if json.Unmarshal(sc.Bytes(), &l) != nil || json.Unmarshal(l.Event, &h) != nil || h.ID == "" {
			continue
		}
		byID[h.ID] = &entry{seq: h.Seq, event: append(json.RawMessage(nil), l.Event...), pending: l.Status == StatusPending}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("notify: legacy outbox: %w", err)
	}
	var pending []*entry
	for _, e := range byID {
		if e.pending {
			pending = append(pending, e)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].seq < pending[j].seq })
	out := make([][]byte, len(pending))
	for i, e := range pending {
		out[i] = e.event
	}
	return out, nil
}

// imported is the envelope of an EventImported event: the earlier version's, with the journal's
// sequence (the admin list orders by it). A payload that does not decode is delivered with its
// data as recorded.
func imported(e *ledger.Event) Event {
	var ev Event
	if err := json.Unmarshal(e.Payload, &ev); err != nil || ev.ID == "" {
		ev = Event{ID: eventID(e), Type: "imported", Data: json.RawMessage("{}")}
	}
	ev.Seq = e.Seq
	return ev
}
