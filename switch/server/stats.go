package server

import "sync/atomic"

// Stats is a snapshot of the server's counters. Counters only grow, except ConnectionsOpen.
// Each field is read atomically on its own; the snapshot as a whole is not a single instant.
type Stats struct {
	ConnectionsOpen     int64  // connections being served now
	ConnectionsAccepted uint64 // connections accepted and served, since New
	ConnectionsRejected uint64 // connections accepted and closed at once: MaxSessions were open

	FramesIn        uint64 // non-empty frames handed to the Handler
	FramesOut       uint64 // response frames written to a connection's write buffer
	FramesEmpty     uint64 // zero-length frames, ignored
	FramesOversize  uint64 // length prefixes over MaxFrameBytes; each closed its connection
	FramesDiscarded uint64 // complete frames read after Shutdown began, not handed to the Handler

	RepliesNone      uint64 // reply(nil): nothing written, in-flight slot released
	RepliesDropped   uint64 // responses never written: connection closed, or drain bound hit
	RepliesDuplicate uint64 // second and later reply calls for one frame, ignored
	RepliesInvalid   uint64 // responses longer than MaxFrameLimit, not written

	HandlerPanics      uint64 // panics recovered around HandleFrame
	BackpressurePauses uint64 // read loop pauses because MaxInFlightPerConn frames were in flight
	IdleTimeouts       uint64 // connections closed after IdleTimeout without inbound bytes
	ReadErrors         uint64 // reads that failed other than by clean EOF, idle timeout or shutdown
	WriteErrors        uint64 // writes that failed (WriteTimeout included); each closed its connection
	AcceptErrors       uint64 // failed Accept calls
}

// counters are the live atomic counters behind Stats.
type counters struct {
	connectionsOpen     atomic.Int64
	connectionsAccepted atomic.Uint64
	connectionsRejected atomic.Uint64

	framesIn        atomic.Uint64
	framesOut       atomic.Uint64
	framesEmpty     atomic.Uint64
	framesOversize  atomic.Uint64
	framesDiscarded atomic.Uint64

	repliesNone      atomic.Uint64
	repliesDropped   atomic.Uint64
	repliesDuplicate atomic.Uint64
	repliesInvalid   atomic.Uint64

	handlerPanics      atomic.Uint64
	backpressurePauses atomic.Uint64
	idleTimeouts       atomic.Uint64
	readErrors         atomic.Uint64
	writeErrors        atomic.Uint64
	acceptErrors       atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		ConnectionsOpen:     c.connectionsOpen.Load(),
		ConnectionsAccepted: c.connectionsAccepted.Load(),
		ConnectionsRejected: c.connectionsRejected.Load(),
		FramesIn:            c.framesIn.Load(),
		FramesOut:           c.framesOut.Load(),
		FramesEmpty:         c.framesEmpty.Load(),
		FramesOversize:      c.framesOversize.Load(),
		FramesDiscarded:     c.framesDiscarded.Load(),
		RepliesNone:         c.repliesNone.Load(),
		RepliesDropped:      c.repliesDropped.Load(),
		RepliesDuplicate:    c.repliesDuplicate.Load(),
		RepliesInvalid:      c.repliesInvalid.Load(),
		HandlerPanics:       c.handlerPanics.Load(),
		BackpressurePauses:  c.backpressurePauses.Load(),
		IdleTimeouts:        c.idleTimeouts.Load(),
		ReadErrors:          c.readErrors.Load(),
		WriteErrors:         c.writeErrors.Load(),
		AcceptErrors:        c.acceptErrors.Load(),
	}
}
