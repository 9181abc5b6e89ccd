package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// DiskUsage is the size of a directory tree (the switch's data directory).
type DiskUsage struct {
	// Bytes is the apparent size: the sum of the regular files' sizes. A sparse file (Badger's
	// active value log and memtable files are mapped at their full size before they fill) counts
	// at its full length.
	Bytes int64
	// AllocatedBytes is what the files occupy on the disk, st_blocks × 512 (0 where the system
	// does not report blocks).
	AllocatedBytes int64
	Files          int
}

// DirDiskUsage sums the regular files under dir (symbolic links are not followed). The store
// deletes compacted tables and old log files while it runs: an entry that vanishes between the
// listing of its directory and its stat is skipped, so the total is that of the tree as the walk
// found it. dir itself missing or unreadable is an error.
func DirDiskUsage(dir string) (DiskUsage, error) {
	u := DiskUsage{}
	if err := filepath.WalkDir(dir, u.walkFunc(dir)); err != nil {
		return DiskUsage{}, fmt.Errorf("bench: disk usage of %s: %w", dir, err)
	}
	return u, nil
}

// walkFunc adds every regular file the walk of root visits to u.
func (u *DiskUsage) walkFunc(root string) fs.WalkDirFunc {
	return func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed during the walk
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		u.Bytes += info.Size()
		u.AllocatedBytes += allocatedBytes(info)
		u.Files++
		return nil
	}
}
