package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
		tooBig  *FrameTooLargeError
	}{
		{name: "message", in: []byte{0, 5, 'h', 'e', 'l', 'l', 'o'}, max: 8192, want: []byte("hello")},
		{name: "zero length is an empty frame", in: []byte{0, 0}, max: 8192, want: []byte{}},
		{name: "exactly max", in: append([]byte{0, 3}, "abc"...), max: 3, want: []byte("abc")},
		{name: "over max", in: append([]byte{0, 4}, "abcd"...), max: 3, wantErr: ErrFrameTooLarge,
			tooBig: &FrameTooLargeError{Length: 4, Max: 3}},
		{name: "max <= 0 means 65535", in: append([]byte{0xFF, 0xFF}, make([]byte, 0xFFFF)...), max: 0,
			want: make([]byte, 0xFFFF)},
		{name: "big-endian prefix", in: append([]byte{0x01, 0x00}, make([]byte, 256)...), max: 8192,
			want: make([]byte, 256)},
		{name: "empty stream is a clean EOF", in: nil, max: 8192, wantErr: io.EOF},
		{name: "half a prefix", in: []byte{0}, max: 8192, wantErr: io.ErrUnexpectedEOF},
		{name: "short message", in: []byte{0, 5, 'h', 'e'}, max: 8192, wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.tooBig != nil {
					var fe *FrameTooLargeError
					if !errors.As(err, &fe) || *fe != *tt.tooBig {
						t.Fatalf("err = %#v, want %#v", err, tt.tooBig)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got == nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadFrameSequence(t *testing.T) {
	var buf bytes.Buffer
	for _, m := range []string{"one", "", "three"} {
		if err := WriteFrame(&buf, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(&buf)
	for _, want := range []string{"one", "", "three"} {
		got, err := ReadFrame(br, 100)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(br, 100); err != io.EOF {
		t.Fatalf("after last frame: err = %v, want io.EOF", err)
	}
}

func TestWriteFrame(t *testing.T) {
	t.Run("plain writer gets one Write", func(t *testing.T) {
		w := &countingWriter{}
		if err := WriteFrame(w, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if w.writes != 1 || !bytes.Equal(w.buf.Bytes(), []byte{0, 5, 'h', 'e', 'l', 'l', 'o'}) {
			t.Fatalf("writes=%d bytes=%v", w.writes, w.buf.Bytes())
		}
	})
	t.Run("bufio writer only buffers", func(t *testing.T) {
		w := &countingWriter{}
		bw := bufio.NewWriter(w)
		for range 3 {
			if err := WriteFrame(bw, []byte("ab")); err != nil {
				t.Fatal(err)
			}
		}
		if w.writes != 0 {
			t.Fatalf("writes before Flush = %d", w.writes)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if w.writes != 1 || w.buf.Len() != 12 {
			t.Fatalf("after Flush writes=%d len=%d", w.writes, w.buf.Len())
		}
	})
	t.Run("zero length", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, nil); err != nil || !bytes.Equal(buf.Bytes(), []byte{0, 0}) {
			t.Fatalf("err=%v bytes=%v", err, buf.Bytes())
		}
	})
	t.Run("longest frame", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, make([]byte, MaxFrameLimit)); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != MaxFrameLimit+2 || buf.Bytes()[0] != 0xFF || buf.Bytes()[1] != 0xFF {
			t.Fatalf("len=%d prefix=%v", buf.Len(), buf.Bytes()[:2])
		}
	})
	t.Run("too long writes nothing", func(t *testing.T) {
		var buf bytes.Buffer
		err := WriteFrame(&buf, make([]byte, MaxFrameLimit+1))
		var fe *FrameTooLargeError
		if !errors.As(err, &fe) || fe.Length != MaxFrameLimit+1 || fe.Max != MaxFrameLimit {
			t.Fatalf("err = %v", err)
		}
		if !errors.Is(err, ErrFrameTooLarge) || buf.Len() != 0 {
			t.Fatalf("errors.Is=%v written=%d", errors.Is(err, ErrFrameTooLarge), buf.Len())
		}
		if !strings.Contains(err.Error(), "65536") {
			t.Fatalf("message %q does not name the length", err.Error())
		}
	})
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func BenchmarkReadWriteFrame(b *testing.B) {
	msg := bytes.Repeat([]byte("0"), 200)
	var stream bytes.Buffer
	bw := bufio.NewWriter(&stream)
	br := bufio.NewReader(&stream)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(bw, msg); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadFrame(br, 8192); err != nil {
			b.Fatal(err)
		}
	}
}
