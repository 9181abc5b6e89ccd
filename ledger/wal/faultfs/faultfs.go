// Package faultfs is an in-memory file system for the write-ahead log's tests (wal.FS), after
// Pebble's errorfs and its strict in-memory FS: it injects errors into chosen operations, runs
// out of space at a chosen capacity, and simulates a crash, in which only what was made
// durable survives (file data by Datasync, directory entries by SyncDir) and of the writes
// since the last Datasync any subset of 512-byte sectors may survive (a torn write).
package faultfs

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/cardswitch/cardswitch/ledger/wal"
)

// Op is a kind of operation faults can be injected into.
type Op int

// The operations.
const (
	OpCreate Op = iota
	OpOpen
	OpWrite
	OpSync // File.Datasync
	OpRename
	OpRemove
	OpSyncDir
	numOps
)

// SectorBytes is the unit a torn write keeps or loses.
const SectorBytes = 512

// Fault makes the nth call of an operation (counted from when the fault was added, from 1)
// fail with Err; with Every, that call and every later one. A failing OpWrite writes the
// first Partial bytes before it fails.
type Fault struct {
	Op      Op
	Nth     int
	Every   bool
	Err     error
	Partial int
	// Hook, for OpSync, runs before the call does its work, without the file system's lock:
	// a test holds the flusher in its fdatasync, or crashes the file system between a write and
	// its sync. A fault with a Hook and no Err fails nothing.
	Hook func()
	// Suffix, for OpWrite and OpSync, limits the fault to files whose name ends with it (".wal":
	// the segments, not a segment being prepared).
	Suffix string
	seen   int
}

type inode struct {
	data    []byte // what reads see (the page cache)
	durable []byte // what survives a crash
	// dirty marks the sectors written since the last Datasync (or whose Datasync failed).
	dirty map[int64]bool
}

// FS is the in-memory file system. Its methods are safe for concurrent use.
type FS struct {
	mu      sync.Mutex
	names   map[string]*inode // the directory entries as the process sees them
	durable map[string]*inode // the entries a crash keeps
	dirs    map[string]bool
	faults  []*Fault
	// CapacityBytes bounds the sum of the files' sizes (0: no bound); a write beyond it writes
	// what fits and fails with ENOSPC.
	capacity int64
	calls    [numOps]int
	byExt    [numOps]map[string]int // calls by the file name's extension (".wal", ".tmp")
}

// New returns an empty file system.
func New() *FS {
	return &FS{names: map[string]*inode{}, durable: map[string]*inode{}, dirs: map[string]bool{}}
}

// Inject adds a fault.
func (f *FS) Inject(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := fault
	f.faults = append(f.faults, &fc)
}

// ClearFaults removes every fault.
func (f *FS) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// SetCapacity bounds the bytes the files may hold (0: no bound).
func (f *FS) SetCapacity(bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capacity = bytes
}

// Calls counts the calls of an operation so far.
func (f *FS) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// CallsOn counts the calls of a file operation (OpWrite, OpSync) on files with extension ext.
func (f *FS) CallsOn(op Op, ext string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byExt[op][ext]
}

// fault returns the injected fault of this call of op on file name, if any (f.mu held).
func (f *FS) fault(op Op) *Fault { return f.faultOn(op, "") }

func (f *FS) faultOn(op Op, name string) *Fault {
	f.calls[op]++
	if f.byExt[op] == nil {
		f.byExt[op] = map[string]int{}
	}
	f.byExt[op][filepath.Ext(name)]++
	for _, ft := range f.faults {
		if ft.Op != op || (ft.Suffix != "" && !strings.HasSuffix(name, ft.Suffix)) {
			continue
		}
		ft.seen++
		if ft.seen == ft.Nth || (ft.Every && ft.seen >= ft.Nth) {
			return ft
		}
	}
	return nil
}

func (f *FS) used() int64 {
	var n int64
	for _, in := range f.names {
		n += int64(len(in.data))
	}
	return n
}

// Crash returns the file system as a restart after a crash finds it: the durable directory
// entries; in each file its durable bytes, and of each sector written since its last Datasync
// either the new or the old content, drawn from rng (nil: every such sector is lost).
func (f *FS) Crash(rng *rand.Rand) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := New()
	maps.Copy(out.dirs, f.dirs)
	copies := map[*inode]*inode{}
	for name, in := range f.durable {
		c, ok := copies[in]
		if !ok {
			data := slices.Clone(in.durable)
			sectors := make([]int64, 0, len(in.dirty))
			for s := range in.dirty {
				sectors = append(sectors, s)
			}
			sort.Slice(sectors, func(i, j int) bool { return sectors[i] < sectors[j] })
			for _, s := range sectors {
				if rng == nil || rng.IntN(2) == 0 {
					continue
				}
				lo := s * SectorBytes
				hi := min(lo+SectorBytes, int64(len(in.data)))
				if lo >= hi {
					continue
				}
				if int64(len(data)) < hi {
					data = append(data, make([]byte, hi-int64(len(data)))...)
				}
				copy(data[lo:hi], in.data[lo:hi])
			}
			c = &inode{data: data, durable: slices.Clone(data), dirty: map[int64]bool{}}
			copies[in] = c
		}
		out.names[name] = c
		out.durable[name] = c
	}
	return out
}

// Files lists the files of the durable and of the visible directory entries (tests' messages).
func (f *FS) Files() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Corrupt overwrites bytes of a file, visible and durable alike (bit rot, a bad sector).
func (f *FS) Corrupt(name string, off int64, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.names[filepath.Clean(name)]
	if !ok || off < 0 || off+int64(len(b)) > int64(len(in.data)) {
		return fs.ErrNotExist
	}
	copy(in.data[off:], b)
	if off+int64(len(b)) <= int64(len(in.durable)) {
		copy(in.durable[off:], b)
	}
	return nil
}

// Create implements wal.FS.
func (f *FS) Create(name string) (wal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if ft := f.fault(OpCreate); ft != nil && ft.Err != nil {
		return nil, ft.Err
	}
	if !f.dirs[filepath.Dir(name)] {
		return nil, fs.ErrNotExist
	}
	if _, ok := f.names[name]; ok {
		return nil, fs.ErrExist
	}
	in := &inode{dirty: map[int64]bool{}}
	f.names[name] = in
	return &file{name: name, fs: f, in: in}, nil
}

// Open implements wal.FS.
func (f *FS) Open(name string) (wal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if ft := f.fault(OpOpen); ft != nil && ft.Err != nil {
		return nil, ft.Err
	}
	in, ok := f.names[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return &file{name: name, fs: f, in: in}, nil
}

// Rename implements wal.FS.
func (f *FS) Rename(oldname, newname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	if ft := f.fault(OpRename); ft != nil && ft.Err != nil {
		return ft.Err
	}
	in, ok := f.names[oldname]
	if !ok {
		return fs.ErrNotExist
	}
	delete(f.names, oldname)
	f.names[newname] = in
	return nil
}

// Remove implements wal.FS.
func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if ft := f.fault(OpRemove); ft != nil && ft.Err != nil {
		return ft.Err
	}
	if _, ok := f.names[name]; !ok {
		return fs.ErrNotExist
	}
	delete(f.names, name)
	return nil
}

// List implements wal.FS.
func (f *FS) List(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if !f.dirs[dir] {
		return nil, fs.ErrNotExist
	}
	var out []string
	for n := range f.names {
		if filepath.Dir(n) == dir {
			out = append(out, filepath.Base(n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// MkdirAll implements wal.FS (directories are durable at once).
func (f *FS) MkdirAll(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		f.dirs[d] = true
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// SyncDir implements wal.FS: the entries of dir become durable as they are now.
func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if ft := f.fault(OpSyncDir); ft != nil && ft.Err != nil {
		return ft.Err
	}
	for n := range f.durable {
		if filepath.Dir(n) == dir {
			delete(f.durable, n)
		}
	}
	for n, in := range f.names {
		if filepath.Dir(n) == dir {
			f.durable[n] = in
		}
	}
	return nil
}

type file struct {
	name   string
	fs     *FS
	in     *inode
	closed bool
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return 0, fs.ErrClosed
	}
	if off >= int64(len(h.in.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.in.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return 0, fs.ErrClosed
	}
	n := len(p)
	var err error
	if ft := h.fs.faultOn(OpWrite, h.name); ft != nil && ft.Err != nil {
		n, err = min(ft.Partial, len(p)), ft.Err
	}
	if c := h.fs.capacity; c > 0 {
		grow := off + int64(n) - int64(len(h.in.data))
		if free := c - h.fs.used(); grow > free {
			n = max(0, int(int64(len(h.in.data))+free-off))
			err = fmt.Errorf("write: %w", syscall.ENOSPC)
		}
	}
	if end := off + int64(n); end > int64(len(h.in.data)) {
		h.in.data = append(h.in.data, make([]byte, end-int64(len(h.in.data)))...)
	}
	copy(h.in.data[off:], p[:n])
	for s := off / SectorBytes; s*SectorBytes < off+int64(n); s++ {
		h.in.dirty[s] = true
	}
	return n, err
}

func (h *file) Datasync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return fs.ErrClosed
	}
	ft := h.fs.faultOn(OpSync, h.name)
	if ft != nil && ft.Hook != nil {
		h.fs.mu.Unlock()
		ft.Hook()
		h.fs.mu.Lock()
	}
	if ft != nil && ft.Err != nil {
		// As Linux after a failed fsync: the dirty pages may be marked clean without being on
		// disk. The data stays visible; none of it becomes durable, and a later sync does not
		// write it.
		clear(h.in.dirty)
		return ft.Err
	}
	h.in.durable = slices.Clone(h.in.data)
	clear(h.in.dirty)
	return nil
}

func (h *file) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return int64(len(h.in.data)), nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return fs.ErrClosed
	}
	h.closed = true
	return nil
}
