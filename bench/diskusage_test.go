package bench

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestDirDiskUsage sums the regular files of a tree: nested directories count, a symbolic link
// does not (its target is counted where it lives), and allocated bytes follow st_blocks.
func TestDirDiskUsage(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("MANIFEST", 100)
	write("ledger/000001.vlog", 10000)
	write("ledger/sub/000002.sst", 5000)
	write("empty", 0)
	if err := os.Symlink(filepath.Join(dir, "ledger/000001.vlog"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	u, err := DirDiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != 15100 || u.Files != 4 {
		t.Errorf("usage %+v, want 15100 bytes in 4 files", u)
	}
	if runtime.GOOS != "windows" && (u.AllocatedBytes < 15100 || u.AllocatedBytes%512 != 0) {
		t.Errorf("allocated %d bytes for 15100 bytes of data", u.AllocatedBytes)
	}

	// A sparse file: apparent size its length, allocated what was written.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	u2, err := DirDiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u2.Bytes != 15100+64<<20 || u2.Files != 5 {
		t.Errorf("with a sparse file: %+v", u2)
	}
	if runtime.GOOS == "linux" && u2.AllocatedBytes-u.AllocatedBytes >= 64<<20 {
		t.Errorf("a sparse file of 64 MiB allocated %d bytes", u2.AllocatedBytes-u.AllocatedBytes)
	}

	// The data directory itself missing is an error.
	if _, err := DirDiskUsage(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// vanishedEntry is a directory entry whose file was removed after its directory was listed.
type vanishedEntry struct{ name string }

func (e vanishedEntry) Name() string      { return e.name }
func (e vanishedEntry) IsDir() bool       { return false }
func (e vanishedEntry) Type() fs.FileMode { return 0 }
func (e vanishedEntry) Info() (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "lstat", Path: e.name, Err: fs.ErrNotExist}
}

// sizedEntry is a regular file of size bytes.
type sizedEntry struct {
	name string
	size int64
}

func (e sizedEntry) Name() string               { return e.name }
func (e sizedEntry) IsDir() bool                { return false }
func (e sizedEntry) Type() fs.FileMode          { return 0 }
func (e sizedEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e sizedEntry) Size() int64                { return e.size }
func (e sizedEntry) Mode() fs.FileMode          { return 0o644 }
func (e sizedEntry) ModTime() time.Time         { return time.Time{} }
func (e sizedEntry) Sys() any                   { return nil }

// The store removes compacted tables and old log files while the suite measures: a file or a
// directory that vanishes during the walk is skipped; any other error, and the root missing, stop it.
func TestDirDiskUsageToleratesVanishing(t *testing.T) {
	var u DiskUsage
	fn := u.walkFunc("/data")
	gone := &fs.PathError{Op: "open", Path: "/data/ledger/old", Err: fs.ErrNotExist}
	if err := fn("/data/a.sst", sizedEntry{"a.sst", 700}, nil); err != nil {
		t.Fatal(err)
	}
	if err := fn("/data/b.sst", vanishedEntry{"b.sst"}, nil); err != nil {
		t.Errorf("file removed after the listing: %v", err)
	}
	if err := fn("/data/ledger/old", nil, gone); err != nil {
		t.Errorf("directory removed during the walk: %v", err)
	}
	if u.Bytes != 700 || u.Files != 1 {
		t.Errorf("usage %+v, want the one file that stayed", u)
	}
	if err := fn("/data", nil, &fs.PathError{Op: "lstat", Path: "/data", Err: fs.ErrNotExist}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("root missing: %v", err)
	}
	if err := fn("/data/locked", nil, &fs.PathError{Op: "open", Path: "/data/locked", Err: fs.ErrPermission}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("unreadable directory: %v", err)
	}
}
