package server

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// MaxFrameLimit is the largest message a 2-byte big-endian length prefix can describe
// (contract §2 framing). No configuration can raise a frame limit above it.
const MaxFrameLimit = 0xFFFF

// frameHeaderBytes is the size of the length prefix in front of every message.
const frameHeaderBytes = 2

// ErrFrameTooLarge is matched (errors.Is) by every *FrameTooLargeError.
var ErrFrameTooLarge = errors.New("frame too large")

// FrameTooLargeError reports a frame whose length is over a limit: on read, the length announced by
// the prefix against the reader's max; on write, the message length against MaxFrameLimit.
type FrameTooLargeError struct {
	Length int // bytes announced by the prefix (read) or given to WriteFrame (write)
	Max    int // the limit that was exceeded
}

func (e *FrameTooLargeError) Error() string {
	return "server: frame of " + strconv.Itoa(e.Length) + " bytes exceeds limit of " +
		strconv.Itoa(e.Max) + " bytes"
}

// Unwrap lets errors.Is(err, ErrFrameTooLarge) match.
func (e *FrameTooLargeError) Unwrap() error { return ErrFrameTooLarge }

// ReadFrame reads one frame (2-byte unsigned big-endian length, then the message) and returns the
// message in a newly allocated slice that the caller owns.
//
// max bounds the announced length; max <= 0 or above MaxFrameLimit means MaxFrameLimit. When the
// prefix announces more than max, ReadFrame returns a *FrameTooLargeError without consuming the
// message: the stream is then out of step and the caller should close it.
//
// A zero-length frame returns an empty, non-nil slice and a nil error. A clean end of stream before
// the first prefix byte returns io.EOF; an end of stream inside a frame returns io.ErrUnexpectedEOF.
// Other errors are those of r, unwrapped.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 || max > MaxFrameLimit {
		max = MaxFrameLimit
	}
	hi, err := r.ReadByte()
	if err != nil {
		return nil, err // io.EOF here is a clean end between frames
	}
	lo, err := r.ReadByte()
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	n := int(hi)<<8 | int(lo)
	if n > max {
		return nil, &FrameTooLargeError{Length: n, Max: max}
	}
	if n == 0 {
		return []byte{}, nil
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, unexpectedEOF(err)
	}
	return msg, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFrame writes msg preceded by its 2-byte big-endian length. A message longer than
// MaxFrameLimit returns a *FrameTooLargeError and writes nothing.
//
// On a *bufio.Writer the frame is only buffered (the caller flushes, which lets many frames share
// one system call); on any other writer prefix and message go out in a single Write call, so a frame
// is never split by the writer into two packets.
func WriteFrame(w io.Writer, msg []byte) error {
	if len(msg) > MaxFrameLimit {
		return &FrameTooLargeError{Length: len(msg), Max: MaxFrameLimit}
	}
	if bw, ok := w.(*bufio.Writer); ok {
		return writeFrameBuffered(bw, msg)
	}
	buf := make([]byte, frameHeaderBytes+len(msg))
	buf[0] = byte(len(msg) >> 8)
	buf[1] = byte(len(msg))
	copy(buf[frameHeaderBytes:], msg)
	_, err := w.Write(buf)
	return err
}

// writeFrameBuffered appends one frame to bw without allocating. len(msg) must be <= MaxFrameLimit.
func writeFrameBuffered(bw *bufio.Writer, msg []byte) error {
	if err := bw.WriteByte(byte(len(msg) >> 8)); err != nil {
		return err
	}
	if err := bw.WriteByte(byte(len(msg))); err != nil {
		return err
	}
	_, err := bw.Write(msg)
	return err
}
