package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"
	mserver "github.com/moov-io/iso8583-connection/server"

	"github.com/cardswitch/cardswitch/switch/codec"
)

// EchoServer is the baseline: a bare moov-io/iso8583-connection server with the same wire profile
// (codec.Spec, 2-byte big-endian length) that answers every request with the response MTI and
// field 39 "00" at once. It measures what the transport, the moov message handling and the load
// generator cost on this machine, without any authorization work or durable write.
type EchoServer struct {
	srv    *mserver.Server
	errors atomic.Int64
}

func readLength(r io.Reader) (int, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b[:])), nil
}

func writeLength(w io.Writer, n int) (int, error) {
	if n > 0xFFFF {
		return 0, fmt.Errorf("echo: message of %d bytes does not fit a 2-byte length", n)
	}
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(n))
	return w.Write(b[:])
}

// StartEcho starts the echo server on addr (e.g. "127.0.0.1:0").
func StartEcho(addr string) (*EchoServer, error) {
	e := &EchoServer{}
	handler := func(c *connection.Connection, m *iso8583.Message) {
		mti, err := m.GetMTI()
		if err != nil || len(mti) != 4 {
			e.errors.Add(1)
			return
		}
		m.MTI(codec.ResponseMTI(mti))
		if err := m.Field(39, "00"); err != nil {
			e.errors.Add(1)
			return
		}
		if err := c.Reply(m); err != nil {
			e.errors.Add(1)
		}
	}
	e.srv = mserver.New(codec.Spec, readLength, writeLength,
		connection.InboundMessageHandler(handler),
		connection.ErrorHandler(func(err error) {
			// A peer closing its connection at the end of a run is not a failure.
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
				strings.Contains(err.Error(), "use of closed network connection") {
				return
			}
			e.errors.Add(1)
		}))
	if err := e.srv.Start(addr); err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	return e, nil
}

// Addr is the listening address.
func (e *EchoServer) Addr() string { return e.srv.Addr }

// Errors counts messages the echo server could not answer.
func (e *EchoServer) Errors() int64 { return e.errors.Load() }

// Close stops the server and its connections.
func (e *EchoServer) Close() { e.srv.Close() }
