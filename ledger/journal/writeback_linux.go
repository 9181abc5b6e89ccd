package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// writebackEvery is how many bytes the checkpoint applier writes into Badger between two
// writeback nudges.
const writebackEvery = 256 << 10

// writeback starts the kernel's write-out of the pages Badger has dirtied in the files it is
// writing (the newest memtable log and value-log file), a little at a time, without waiting for
// it (sync_file_range with SYNC_FILE_RANGE_WRITE, as RocksDB's bytes_per_sync does).
//
// Badger, unsynced under the write-ahead log, leaves its writes dirty in the page cache and syncs
// a whole file at once when it finishes one (msync of a memtable log when the memtable is full)
// and at a checkpoint (db.Sync). That sync then writes tens of megabytes in one go, and the
// log's fdatasync of a batch, which must wait for the disk, waits behind it: the answers of
// every batch in those tens of milliseconds are late (docs/benchmarks-log.md, Round 13). Written
// out as they are applied, the files are nearly clean when Badger syncs them, and the disk sees
// a steady trickle instead of bursts.
//
// Only the applier goroutine uses a writeback.
type writeback struct {
	dir   string
	files map[string]*os.File // open files being nudged, by name
}

func newWriteback(dir string) *writeback { return &writeback{dir: dir, files: map[string]*os.File{}} }

// nudge starts the write-out of the newest memtable log and value-log file, and a last time of a
// file that is no longer the newest (then closes it). Errors are ignored: the write-out is an
// optimisation, and Badger's own syncs still make everything durable.
func (w *writeback) nudge() {
	names, err := writtenFiles(w.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		f := w.files[name]
		if f == nil {
			if f, err = os.Open(filepath.Join(w.dir, name)); err != nil {
				continue
			}
			w.files[name] = f
		}
		startWriteOut(f)
	}
	for name, f := range w.files {
		if !slices.Contains(names, name) {
			startWriteOut(f)
			f.Close()
			delete(w.files, name)
		}
	}
}

func (w *writeback) close() {
	for name, f := range w.files {
		f.Close()
		delete(w.files, name)
	}
}

func startWriteOut(f *os.File) { _ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE) }

// writtenFiles names the files of a Badger directory that take writes: the memtable log and the
// value-log file with the highest numbers.
func writtenFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	newest := map[string]int{".mem": -1, ".vlog": -1}
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if _, ok := newest[ext]; !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ext)); err == nil && n > newest[ext] {
			newest[ext] = n
		}
	}
	var names []string
	if n := newest[".mem"]; n >= 0 {
		names = append(names, fmt.Sprintf("%05d.mem", n)) // Badger's memtable log names
	}
	if n := newest[".vlog"]; n >= 0 {
		names = append(names, fmt.Sprintf("%06d.vlog", n)) // and value-log file names
	}
	return names, nil
}
