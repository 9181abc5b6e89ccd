package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the file system the log uses: the few operations it needs, so that tests can inject
// faults and crashes (package faultfs, after Pebble's errorfs). Names are paths as given by the
// log (Options.Dir joined with a file name).
type FS interface {
	// Create makes a new file for reading and writing; it fails if the name exists.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing.
	Open(name string) (File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	// List returns the names (not paths) of the entries of dir.
	List(dir string) ([]string, error)
	MkdirAll(dir string) error
	// SyncDir makes the creations, renames and removals in dir durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Datasync makes the file's data durable (fdatasync): on a file whose blocks were all
	// written before, that flushes data and no metadata.
	Datasync() error
	Size() (int64, error)
	Close() error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f osFile) Datasync() error { return datasync(f.File) }

// WriteOut writes the range's dirty pages and waits for them (writeOuter).
func (f osFile) WriteOut(off, n int64) error { return writeOut(f.File, off, n) }

// writeOuter is a File that can write a range of its pages out without flushing metadata. The
// log uses it to write a new segment's zeros a chunk at a time, so that the disk never holds a
// whole segment's write-back in front of a record's fdatasync.
type writeOuter interface {
	WriteOut(off, n int64) error
}

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// isNotExist reports a missing file on any FS (faultfs returns fs.ErrNotExist too).
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func join(dir, name string) string { return filepath.Join(dir, name) }

// writeFull writes all of p at off: a short write without an error is an error.
func writeFull(f File, p []byte, off int64) error {
	n, err := f.WriteAt(p, off)
	if err == nil && n != len(p) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(p))
	}
	return err
}
