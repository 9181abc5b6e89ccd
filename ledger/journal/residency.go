package journal

import (
	"path/filepath"
	"time"
)

// pageReleaseEvery is how often the pages of Badger's mapped files are handed back to the kernel
// by default (residency_linux.go). Under a full load Badger writes 20–60 MB a second through its
// mappings; every two seconds keeps what the switch holds of them to about a hundred megabytes.
const pageReleaseEvery = 2 * time.Second

// startReleasing starts the loop that every interval hands the resident pages of the store's
// mapped files back to the kernel's page cache. The loop ends at the first error other than a
// range unmapped meanwhile (a kernel without MADV_PAGEOUT, which is 5.4 and later), after
// logging it once.
func (j *Badger) startReleasing(interval time.Duration) *loop {
	dir, err := filepath.Abs(j.opts.Dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir) // /proc/self/smaps names files by their real path
	}
	if err != nil {
		j.warn("mapped pages are not released", err)
		return nil
	}
	return startLoop(interval, func() bool {
		if err := releaseFilePages(dir); err != nil {
			j.warn("mapped pages are not released", err)
			return false
		}
		return true
	})
}

func (j *Badger) warn(msg string, err error) {
	if j.log != nil {
		j.log.Warn(msg, "err", err)
	}
}
