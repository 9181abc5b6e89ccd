//go:build unix

package bench

import "syscall"

// syncDisks writes back every dirty page of the machine (sync(2)) before a baseline run, so
// that the baseline's fdatasyncs do not queue behind the write-back of what the switch left in
// the page cache (Badger's files), which otherwise stalls them for seconds
// (docs/benchmarks-log.md, Round 10).
func syncDisks() { syscall.Sync() }
