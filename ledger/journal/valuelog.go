package journal

import (
	"errors"
	"os"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Values of this size or more (sealed: 30 bytes of header, nonce and tag included) are written
// to Badger's value log, and the LSM tree keeps only the key and a 12-byte pointer. Nearly every
// row is larger: with a million cards, compaction rewrote the whole store every few seconds and
// the switch stalled for seconds each time; with pointers the tree holds a fifth of the bytes
// per approval and the cards and customers of a provisioned store are 100 MB of keys instead
// of 470 MB of rows (docs/benchmarks-log.md, "Round 6"). A variable so that a test can write a
// store as versions before this one did (every row in the tree).
var valueThreshold int64 = 64

// valueLogFileBytes is the size at which Badger starts a new value-log file; collection works
// file by file. Every commit syncs the file being written, and the sync costs more the larger
// the file: at 5,000 approvals/s, p50 latency 4.9 ms with 256 MiB files, 2.6 ms with 64 MiB,
// 1.8–2.4 ms with 16 MiB (Round 6). 16 MiB makes 64 files per GB of history, each open and
// mapped: far below the limits of a default Linux (Go raises the soft limit on open files).
// A variable so that tests can fill several files quickly.
var valueLogFileBytes int64 = 16 << 20

// valueLogGCEvery is how often the value log is collected by default: a balance rewritten leaves
// its old value behind in the log, so the log grows by about one balance row per approval until
// collected.
const valueLogGCEvery = time.Minute

// valueLogGCRatio: a value-log file is rewritten when at least this share of it is garbage
// (Badger's discard statistics, kept by compaction). A file written under load holds auth
// records (kept), balances (garbage once rewritten) and time-index rows (garbage once due) in
// about 55:30:15 by bytes, so it seldom becomes more than half garbage: at 0.3 the log stays
// within about 1.4 times its live rows, and rewriting a file copies at most 70 % of it.
const valueLogGCRatio = 0.3

// maxGCRewritesPerRound bounds the files one collection round rewrites, so a round that finds a
// lot of garbage (after a long stop of collection) spreads its work over several intervals.
const maxGCRewritesPerRound = 8

// collectRound asks Badger to rewrite the value-log files that are at least valueLogGCRatio
// garbage (one round of the collector, every valueLogGCEvery by default).
func (j *Badger) collectRound() bool {
	n, err := j.CollectValueLog(maxGCRewritesPerRound)
	if err != nil {
		j.warn("value log collection failed", err)
	} else if n > 0 && j.log != nil {
		j.log.Info("value log collected", "files", n)
	}
	return true
}

// CollectValueLog rewrites up to max value-log files whose share of garbage is at least
// valueLogGCRatio, and reports how many it rewrote. The live values of a file are written anew
// (through Badger's own write path, under their original versions, so a newer value written
// meanwhile still wins) before the file is deleted.
func (j *Badger) CollectValueLog(max int) (int, error) {
	j.rmu.RLock()
	defer j.rmu.RUnlock()
	if j.db == nil {
		return 0, ErrClosed
	}
	n := 0
	for n < max {
		err := j.db.RunValueLogGC(valueLogGCRatio)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		default:
			return n, err
		}
	}
	return n, nil
}

// ValueLogBytes reports the bytes of the value-log files on disk (metrics; 0 if the directory
// cannot be read).
func (j *Badger) ValueLogBytes() int64 {
	n, _ := j.valueLogSize()
	return n
}

// valueLogSize reports the bytes of the value-log files on disk (Badger's own figure is
// refreshed once a minute).
func (j *Badger) valueLogSize() (int64, error) {
	entries, err := os.ReadDir(j.opts.Dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return 0, err
		}
		n += info.Size()
	}
	return n, nil
}
