package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseFilePages hands the resident pages of Badger's mapped files in dir back to the kernel
// and asks it to keep them in its page cache.
//
// Badger reads and writes its value log, tables and memtable logs through shared mappings, so
// every page it touched counts in the switch's resident set until the file is closed: under a
// full load that grew to 1–2 GB of file pages beside 0.8 GB of the switch's own memory. A
// database that reads with pread(2) holds the same pages in the kernel's page cache, not in its
// resident set; this makes the mappings behave the same way.
//
// MADV_PAGEOUT drops a range's pages from this process's page tables and reclaims the clean ones
// (nearly all: Badger syncs every batch; a dirty page, of a table still being written, is only
// unmapped and written back as usual), and POSIX_FADV_WILLNEED reads them back into the page
// cache, not into the mapping, so compaction and the next start read from memory rather than
// from the disk (without it a restart took 16 s instead of 10, docs/benchmarks-log.md, "Round 6").
// MADV_DONTNEED would keep them cached without the reread but is unsafe here: a range Badger
// unmaps between reading /proc/self/smaps and the madvise call may meanwhile hold an anonymous
// mapping, whose memory MADV_DONTNEED would zero. MADV_PAGEOUT of anonymous memory does nothing
// without swap and swaps it out with swap: slower once, never wrong.
//
// Only mappings with resident pages are released (/proc/self/smaps counts them), and the value-
// log file and memtable log being written are left alone: their last page is written again at
// the next commit. Memtable logs are not read back (they are read only after a crash).
func releaseFilePages(dir string) error {
	ms, err := mappedFiles(dir)
	if err != nil {
		return err
	}
	newest := map[string]int{} // extension -> highest file number (the file being written)
	for _, m := range ms {
		newest[m.ext] = max(newest[m.ext], m.num)
	}
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return err
	}
	defer pagemap.Close()
	var buf []byte
	for _, m := range ms {
		if m.rss == 0 || (m.ext != ".sst" && m.num == newest[m.ext]) {
			continue
		}
		var runs [][2]uintptr
		if runs, buf, err = presentRuns(pagemap, m.start, m.end, buf); err != nil {
			return err
		}
		var f *os.File
		for _, r := range runs {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_PAGEOUT); errno != 0 {
				if errno == unix.ENOMEM {
					break // unmapped meanwhile
				}
				return errno // EINVAL: a kernel before 5.4
			}
			if m.ext == ".mem" {
				continue
			}
			if f == nil {
				if f, err = os.Open(m.path); err != nil {
					break // deleted meanwhile
				}
			}
			readBack(f, m.off+int64(r[0]-m.start), int64(r[1]-r[0]))
		}
		if f != nil {
			f.Close()
		}
	}
	return nil
}

// presentRuns reads /proc/self/pagemap for the pages from start to end and returns the runs of
// pages mapped in (bit 63 of a page's entry), as address ranges. buf is reused.
func presentRuns(pagemap *os.File, start, end uintptr, buf []byte) ([][2]uintptr, []byte, error) {
	page := uintptr(os.Getpagesize())
	n := int((end - start) / page)
	if cap(buf) < 8*n {
		buf = make([]byte, 8*n)
	}
	buf = buf[:8*n]
	if _, err := pagemap.ReadAt(buf, int64(start/page)*8); err != nil {
		return nil, buf, err
	}
	var runs [][2]uintptr
	for i := 0; i < n; i++ {
		if binary.LittleEndian.Uint64(buf[8*i:])>>63 == 0 {
			continue
		}
		lo := start + uintptr(i)*page
		for i+1 < n && binary.LittleEndian.Uint64(buf[8*(i+1):])>>63 != 0 {
			i++
		}
		runs = append(runs, [2]uintptr{lo, start + uintptr(i+1)*page})
	}
	return runs, buf, nil
}

// mappedFile is a mapping of one of the store's files, from /proc/self/smaps.
type mappedFile struct {
	start, end uintptr
	off        int64 // of the mapping in the file
	path, ext  string
	num        int   // the file's number: Badger numbers its files in the order it creates them
	rss        int64 // resident bytes
}

// mappedFiles lists the mappings of the value-log, table and memtable-log files in dir.
func mappedFiles(dir string) ([]mappedFile, error) {
	smaps, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer smaps.Close()
	var ms []mappedFile
	prefix := []byte(dir + string(filepath.Separator))
	cur := -1 // index in ms of the mapping whose fields are being read, if one of the store's
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		// Field lines ("Rss: 4 kB", "VmFlags: rd mr") start with a name ending in a colon; a
		// mapping's header is start-end perms offset dev inode path.
		if bytes.HasSuffix(f[0], []byte(":")) {
			if cur >= 0 && string(f[0]) == "Rss:" && len(f) >= 2 {
				kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
				ms[cur].rss = kb << 10
			}
			continue
		}
		cur = -1
		if len(f) < 6 || !bytes.HasPrefix(f[5], prefix) {
			continue
		}
		path := string(f[5])
		ext := filepath.Ext(path)
		if ext != ".vlog" && ext != ".sst" && ext != ".mem" {
			continue
		}
		num, err0 := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ext))
		lo, hi, _ := strings.Cut(string(f[0]), "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseInt(string(f[2]), 16, 64)
		if err0 != nil || err1 != nil || err2 != nil || err3 != nil || end <= start {
			continue
		}
		ms = append(ms, mappedFile{start: uintptr(start), end: uintptr(end), off: off, path: path, ext: ext, num: num})
		cur = len(ms) - 1
	}
	return ms, sc.Err()
}

// readBackChunk is what one POSIX_FADV_WILLNEED asks for: the kernel reads at most the device's
// read-ahead window per call (128 KiB by default) and drops the rest of a larger request.
const readBackChunk = 128 << 10

// readBack asks the kernel to read size bytes of f from off into its page cache.
func readBack(f *os.File, off, size int64) {
	for n := int64(0); n < size; n += readBackChunk {
		if unix.Fadvise(int(f.Fd()), off+n, min(readBackChunk, size-n), unix.FADV_WILLNEED) != nil {
			return
		}
	}
}
