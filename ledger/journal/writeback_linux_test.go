package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWrittenFilesAreTheNewest(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"00001.mem", "00003.mem", "00002.mem", "000007.vlog", "000010.vlog",
		"000004.sst", "MANIFEST", "KEYREGISTRY", "x.mem"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := writtenFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"00003.mem", "000010.vlog"}; !slices.Equal(got, want) {
		t.Fatalf("written files %v, want %v", got, want)
	}
}

func TestNudgeFollowsTheNewestFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(n string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, n), make([]byte, 8192), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("00001.mem")
	write("000001.vlog")
	w := newWriteback(dir)
	defer w.close()
	w.nudge()
	if len(w.files) != 2 || w.files["00001.mem"] == nil || w.files["000001.vlog"] == nil {
		t.Fatalf("after the first nudge: %v", keys(w.files))
	}
	write("00002.mem") // the memtable was rotated: the old log is finished
	w.nudge()
	if len(w.files) != 2 || w.files["00002.mem"] == nil || w.files["00001.mem"] != nil {
		t.Fatalf("after the rotation: %v", keys(w.files))
	}
	w.close()
	if len(w.files) != 0 {
		t.Fatalf("after close: %v", keys(w.files))
	}
}

func keys(m map[string]*os.File) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
