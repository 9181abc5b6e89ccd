package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2): the file's data and only the metadata needed to read it back. The
// log's segments are written in full before use, so their size and block map never change and
// an fdatasync of a record carries no metadata (docs/decisions/0008-write-ahead-log.md).
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// writeOut writes the file's dirty pages in [off, off+n) to the disk and waits for them
// (sync_file_range), without the metadata an fdatasync would also flush.
func writeOut(f *os.File, off, n int64) error {
	for {
		err := unix.SyncFileRange(int(f.Fd()), off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		if err != unix.EINTR {
			return err
		}
	}
}
