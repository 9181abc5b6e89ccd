package journal

import (
	"sync"
	"time"
)

// loop is one of the journal's background goroutines (value-log collection, page release): it
// calls a round every interval until halted or until the round reports false.
type loop struct {
	stop, done chan struct{}
	once       sync.Once
}

func startLoop(interval time.Duration, round func() bool) *loop {
	l := &loop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				if !round() {
					return
				}
			}
		}
	}()
	return l
}

// halt stops the loop and waits for a round in progress to end; a nil loop is not running.
func (l *loop) halt() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.stop) })
	<-l.done
}
