package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cardswitch/cardswitch/ledger"
)

// Released, the pages of finished value-log files leave the switch's resident set but stay in
// the kernel's page cache, and every row still reads back as written.
func TestReleasedFilePagesLeaveTheResidentSetAndStayCached(t *testing.T) {
	defer func(n int64) { valueLogFileBytes = n }(valueLogFileBytes)
	valueLogFileBytes = 1 << 20 // several finished files from a few megabytes of rows

	requirePageRelease(t)
	j := opener(t, -1)() // no Load: the background releaser does not run
	defer j.Close()
	last := rewriteBalances(t, j, 500, 40)
	dir, err := filepath.EvalSymlinks(j.opts.Dir)
	if err != nil {
		t.Fatal(err)
	}

	before, files := finishedValueLogRSS(t, dir)
	if len(files) < 2 || before == 0 {
		t.Fatalf("%d finished value-log files with %d resident bytes: the test wrote too little", len(files), before)
	}
	if err := releaseFilePages(dir); err != nil {
		t.Fatal(err)
	}
	after, _ := finishedValueLogRSS(t, dir)
	t.Logf("%d finished value-log files: %d resident bytes before the release, %d after", len(files), before, after)
	if after > before/10 {
		t.Fatalf("resident bytes of the finished value-log files %d -> %d; want them released", before, after)
	}

	// The reread is asynchronous: wait for it.
	for _, path := range files {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			cached, size := pageCacheBytes(t, path)
			if cached >= size {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d bytes in the page cache 5 s after the release", filepath.Base(path), cached, size)
			}
		}
	}
	checkBalances(t, j, last)
}

// finishedValueLogRSS sums the resident bytes of the mappings of dir's value-log files but the
// one being written, and lists those files.
func finishedValueLogRSS(t *testing.T, dir string) (int64, []string) {
	t.Helper()
	ms, err := mappedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for _, m := range ms {
		if m.ext == ".vlog" {
			newest = max(newest, m.num)
		}
	}
	var rss int64
	var files []string
	for _, m := range ms {
		if m.ext == ".vlog" && m.num != newest {
			rss += m.rss
			files = append(files, m.path)
		}
	}
	return rss, files
}

// pageCacheBytes reports how many bytes of a file are in the page cache (mincore of a mapping
// of it, which maps nothing in), and the file's size rounded up to whole pages.
func pageCacheBytes(t *testing.T, path string) (cached, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	size = (info.Size() + page - 1) / page * page
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, size/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(size), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			cached += page
		}
	}
	return cached, size
}

// Once the ledger is loaded, the journal releases the pages of finished value-log files by
// itself, until it is closed.
func TestJournalReleasesPagesInTheBackgroundAfterLoad(t *testing.T) {
	defer func(n int64) { valueLogFileBytes = n }(valueLogFileBytes)
	valueLogFileBytes = 1 << 20
	requirePageRelease(t)

	key := make([]byte, 32)
	j, err := OpenBadger(Options{Dir: t.TempDir(), DataKey: key, ValueLogGCInterval: -1,
		PageReleaseInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Load(ledger.NewState(j)); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(j.opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	last := rewriteBalances(t, j, 500, 40) // several value-log files, written after the load
	rss, files := finishedValueLogRSS(t, dir)
	for deadline := time.Now().Add(5 * time.Second); rss > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		rss, files = finishedValueLogRSS(t, dir)
	}
	if len(files) < 2 {
		t.Fatalf("%d finished value-log files: the test wrote too little", len(files))
	}
	if rss > 0 {
		t.Fatalf("finished value-log files still have %d resident bytes 5 s after they were written", rss)
	}
	checkBalances(t, j, last)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.releaser == nil {
		t.Fatal("no releaser after Load")
	}
	select {
	case <-j.releaser.done:
	default:
		t.Fatal("the releaser still runs after Close")
	}
}

// requirePageRelease skips the test where the releaser cannot work: a kernel before 5.4 (no
// MADV_PAGEOUT) or a /proc without smaps or pagemap.
func requirePageRelease(t *testing.T) {
	t.Helper()
	for _, name := range []string{"/proc/self/smaps", "/proc/self/pagemap"} {
		if f, err := os.Open(name); err != nil {
			t.Skipf("no %s: %v", name, err)
		} else {
			f.Close()
		}
	}
	m, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := unix.Madvise(m, unix.MADV_PAGEOUT); errors.Is(err, unix.EINVAL) {
		t.Skip("kernel without MADV_PAGEOUT")
	}
}
