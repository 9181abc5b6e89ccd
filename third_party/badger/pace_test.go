/*
 * SPDX-FileCopyrightText: © 2026 cardswitch contributors
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTime is a clock that advances only when a test says so, and records the pauses asked of it.
type fakeTime struct {
	mu     sync.Mutex
	t      time.Time
	paused time.Duration
	pauses int
}

func (f *fakeTime) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}
func (f *fakeTime) sleep(d time.Duration) {
	f.mu.Lock()
	f.paused += d
	f.pauses++
	f.mu.Unlock()
}

func newFakePacer(pace float64) (*compactionPacer, *fakeTime) {
	ft := &fakeTime{t: time.Unix(0, 0)}
	p := &compactionPacer{now: ft.now, sleep: ft.sleep}
	p.pace.Store(math.Float64bits(pace))
	return p, ft
}

// merge plays a worker merging n keys that take perKey each.
func merge(p *compactionPacer, ft *fakeTime, n int, perKey time.Duration, urgent func() bool) {
	w := p.worker(urgent)
	defer w.release()
	for i := 0; i < n; i++ {
		w.key()
		ft.advance(perKey)
	}
}

func never() bool { return false }

func TestPacedWorkerPausesPaceTimesItsWork(t *testing.T) {
	p, ft := newFakePacer(2)
	merge(p, ft, 10*pacedChunkKeys, time.Microsecond, never)
	// Ten chunks of 512 µs each; the pause after a chunk is asked at the chunk's end, so the
	// tenth chunk (ended by release, not by a key) is not followed by one.
	if ft.pauses != 9 {
		t.Fatalf("pauses = %d, want 9", ft.pauses)
	}
	if want := 9 * 2 * pacedChunkKeys * time.Microsecond; ft.paused != want {
		t.Fatalf("paused %v, want %v (twice the work before each pause)", ft.paused, want)
	}
}

func TestUnpacedAndUrgentWorkersNeverPause(t *testing.T) {
	p, ft := newFakePacer(0)
	merge(p, ft, 10*pacedChunkKeys, time.Microsecond, never)
	if ft.pauses != 0 {
		t.Fatalf("pace 0: %d pauses", ft.pauses)
	}
	p, ft = newFakePacer(2)
	merge(p, ft, 10*pacedChunkKeys, time.Microsecond, func() bool { return true })
	if ft.pauses != 0 {
		t.Fatalf("level 0 too full: %d pauses", ft.pauses)
	}
}

func TestPacingCanBeTurnedOffWhileAWorkerRuns(t *testing.T) {
	p, ft := newFakePacer(2)
	w := p.worker(never)
	for i := 0; i < 3*pacedChunkKeys; i++ {
		if i == pacedChunkKeys+1 {
			p.pace.Store(0) // what SetCompactionPace(0) does before Close
		}
		w.key()
		ft.advance(time.Microsecond)
	}
	w.release()
	if ft.pauses != 1 {
		t.Fatalf("pauses = %d, want only the one before pacing was turned off", ft.pauses)
	}
	if p.token.TryLock() {
		p.token.Unlock()
	} else {
		t.Fatal("the token is still held after release")
	}
}

func TestOnePacedWorkerMergesAtATime(t *testing.T) {
	p, _ := newFakePacer(1)
	p.now = time.Now
	var inside, most atomic.Int32
	p.sleep = func(time.Duration) {} // no real pauses: the test is about exclusion
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := p.worker(never)
			defer w.release()
			for i := 0; i < 20*pacedChunkKeys; i++ {
				w.key()
				// Between two calls of key the worker holds the token: nobody else merges.
				n := inside.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				inside.Add(-1)
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d paced workers merged at once, want 1", most.Load())
	}
}

func TestSetCompactionPaceRejectsNonsense(t *testing.T) {
	db := &DB{}
	for _, v := range []float64{-1, math.NaN(), math.Inf(1)} {
		db.SetCompactionPace(v)
		if got := math.Float64frombits(db.pacer.pace.Load()); got != 0 {
			t.Fatalf("SetCompactionPace(%v) left pace %v, want 0", v, got)
		}
	}
	db.SetCompactionPace(2)
	if got := math.Float64frombits(db.pacer.pace.Load()); got != 2 {
		t.Fatalf("pace = %v, want 2", got)
	}
}
