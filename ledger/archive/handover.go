package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/cardswitch/cardswitch/ledger"
)

// handOverRow bounds the entries of one hand-over batch (one index row), as the History-mode
// migration bounds its rows.
const handOverRow = 1024

// handOverMarker is the file whose presence says the hand-over of a store written before the
// archive existed is done (ledger/archiving.go).
const handOverMarker = "handover.done"

// HandedOver reports whether the hand-over was done for this store.
func (s *Store) HandedOver() bool {
	f, err := s.fs.Open(s.opts.Dir + "/" + handOverMarker)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// MarkHandedOver records, durably, that the hand-over is done.
func (s *Store) MarkHandedOver() error {
	name := s.opts.Dir + "/" + handOverMarker
	f, err := s.fs.Create(name)
	if err != nil {
		return fmt.Errorf("archive: hand-over marker: %w", err)
	}
	err = f.Datasync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	if err != nil {
		return fmt.Errorf("archive: hand-over marker: %w", err)
	}
	return nil
}

// HandOver gives every hot auth record created before beforeNanos that retention kept an entry
// in the archiving index, through submit (an engine batch each, handOverRow entries at most),
// and reports how many. It stops early, with ctx's error, when ctx ends; run again, it repeats
// harmlessly. The caller marks the store (MarkHandedOver) once it returned nil.
func HandOver(ctx context.Context, st *ledger.State, beforeNanos int64, submit func(context.Context, ledger.ArchiveHandOver) error) (int, error) {
	var chunk []ledger.IndexEntry
	n := 0
	var serr error
	flush := func() bool {
		if len(chunk) == 0 {
			return true
		}
		if serr = submit(ctx, ledger.ArchiveHandOver{Entries: chunk}); serr != nil {
			return false
		}
		n += len(chunk)
		chunk = chunk[:0]
		return true
	}
	err := st.EachKeptAuth(beforeNanos, func(e ledger.IndexEntry) bool {
		if ctx.Err() != nil {
			return false
		}
		chunk = append(chunk, e)
		return len(chunk) < handOverRow || flush()
	})
	if err == nil && serr == nil {
		flush()
	}
	return n, errors.Join(err, serr, ctx.Err())
}
