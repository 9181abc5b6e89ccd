package journal

import (
	"path/filepath"
	"time"
)

// pageReleaseEvery is how often the pages of Badger's mapped files are handed back to the kernel
// by default (residency_linux.go). Under a full load Badger writes 20–60 MB a second through its
// mappings; every two seconds keeps what the switch holds of them to about a hundred megabytes.
const pageReleaseEvery = 2 * time.Second

// releasePages runs until stop is closed: every interval it hands the resident pages of the
// store's mapped files back to the kernel's page cache. It stops at the first error other than a
// range unmapped meanwhile (a kernel without MADV_PAGEOUT, which is 5.4 and later), after
// logging it once.
func (j *Badger) releasePages(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	dir, err := filepath.Abs(j.opts.Dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir) // /proc/self/smaps names files by their real path
	}
	if err != nil {
		j.warn("mapped pages are not released", err)
		return
	}
	every(interval, stop, func() bool {
		if _, err := releaseFilePages(dir); err != nil {
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
