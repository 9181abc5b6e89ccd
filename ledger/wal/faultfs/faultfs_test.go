package faultfs

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
)

// A crash keeps synced data and synced directory entries only; of unsynced sectors, either
// version.
func TestCrashKeepsOnlyWhatWasMadeDurable(t *testing.T) {
	fs := New()
	if err := fs.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("synced"), 0)
	f.Datasync()
	if _, err := fs.Create("/d/unsynced-entry"); err != nil {
		t.Fatal(err)
	}
	if got := fs.Crash(nil).Files(); len(got) != 0 {
		t.Fatalf("entries before SyncDir survived: %v", got)
	}
	fs.SyncDir("/d")
	f.WriteAt([]byte("SYNCED"), 0) // not synced
	c := fs.Crash(nil)
	g, err := c.Open("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	g.ReadAt(b, 0)
	if string(b) != "synced" {
		t.Fatalf("after a crash with every unsynced sector lost: %q", b)
	}
	seenNew := false
	for seed := uint64(0); seed < 20 && !seenNew; seed++ {
		g, _ := fs.Crash(rand.New(rand.NewPCG(seed, 1))).Open("/d/a")
		g.ReadAt(b, 0)
		seenNew = string(b) == "SYNCED"
	}
	if !seenNew {
		t.Fatal("an unsynced sector never survived a crash")
	}
}

func TestFaultsAndCapacity(t *testing.T) {
	fs := New()
	fs.MkdirAll("/d")
	f, _ := fs.Create("/d/a")
	fs.Inject(Fault{Op: OpSync, Nth: 2, Err: syscall.EIO})
	if err := f.Datasync(); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if err := f.Datasync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second sync: %v, want EIO", err)
	}
	fs.Inject(Fault{Op: OpWrite, Nth: 1, Err: syscall.EIO, Partial: 3})
	if n, err := f.WriteAt([]byte("abcdef"), 0); n != 3 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("partial write: %d, %v", n, err)
	}
	fs.ClearFaults()
	fs.SetCapacity(10)
	if n, err := f.WriteAt(make([]byte, 20), 0); n != 10 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past capacity: %d, %v", n, err)
	}
}
