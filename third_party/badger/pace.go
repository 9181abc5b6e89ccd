/*
 * SPDX-FileCopyrightText: © 2026 cardswitch contributors
 * SPDX-License-Identifier: Apache-2.0
 */

// This file is not part of upstream Badger: cardswitch adds compaction pacing (see
// CARDSWITCH.md in this directory).

package badger

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// pacedChunkKeys is how many keys a paced compaction worker merges between two pauses: about
// half a millisecond of work, so a pause never delays a writer for long.
const pacedChunkKeys = 512

// compactionPacer spreads compaction work over time. A compaction of level 0 merges millions
// of keys; run flat out, its workers take every CPU of a small machine for seconds and the
// writers that wait for the database stall with them. When pacing is on, one worker at a time
// merges keys, and after each chunk of work it sleeps pace × the chunk's duration: compaction
// then takes at most 1/(1+pace) of one CPU. Pacing is suspended while level 0 is at or past
// half its stall threshold, so that compaction catches up before writes would stall.
type compactionPacer struct {
	pace  atomic.Uint64 // math.Float64bits of the pause per unit of work; 0: no pacing
	token sync.Mutex    // held by the one worker merging a paced chunk
	// now and sleep are time.Now and time.Sleep; tests replace them.
	now   func() time.Time
	sleep func(time.Duration)
}

// SetCompactionPace sets how long a compaction worker pauses per unit of work (see
// compactionPacer): 2 limits compaction to a third of one CPU while level 0 is below half of
// NumLevelZeroTablesStall. 0 (the default) turns pacing off, as before Close so that the
// compactions run on close are not slowed.
func (db *DB) SetCompactionPace(pace float64) {
	if pace < 0 || math.IsNaN(pace) || math.IsInf(pace, 0) {
		pace = 0
	}
	db.pacer.pace.Store(math.Float64bits(pace))
}

// CompactionPace reports the pace SetCompactionPace set.
func (db *DB) CompactionPace() float64 { return math.Float64frombits(db.pacer.pace.Load()) }

// pacedWorker is one compaction worker's view of the pacer.
type pacedWorker struct {
	p      *compactionPacer
	urgent func() bool // level 0 is too full to pace
	held   bool
	start  time.Time
	keys   int
}

func (p *compactionPacer) worker(urgent func() bool) *pacedWorker {
	w := &pacedWorker{p: p, urgent: urgent}
	w.acquire()
	return w
}

func (w *pacedWorker) acquire() {
	if math.Float64frombits(w.p.pace.Load()) == 0 || w.urgent() {
		return
	}
	w.p.token.Lock()
	w.held = true
	w.start = w.p.clock()
}

// key is called before the worker merges each key.
func (w *pacedWorker) key() {
	w.keys++
	if w.keys%pacedChunkKeys != 1 || w.keys == 1 {
		return
	}
	if w.held {
		if pace := math.Float64frombits(w.p.pace.Load()); pace > 0 && !w.urgent() {
			w.p.pause(time.Duration(float64(w.p.clock().Sub(w.start)) * pace))
		}
		w.release()
	}
	w.acquire()
}

// release ends the worker's chunk; call it when the worker stops merging.
func (w *pacedWorker) release() {
	if w.held {
		w.held = false
		w.p.token.Unlock()
	}
}

func (p *compactionPacer) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *compactionPacer) pause(d time.Duration) {
	if p.sleep != nil {
		p.sleep(d)
		return
	}
	time.Sleep(d)
}
