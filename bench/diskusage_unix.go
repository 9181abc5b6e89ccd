//go:build unix

package bench

import (
	"io/fs"
	"syscall"
)

// allocatedBytes is the disk space of a file: st_blocks, in units of 512 bytes (stat(2)).
func allocatedBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return 0
}
