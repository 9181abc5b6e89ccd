package ledger

import "testing"

// The chunked retention queue behaves as a FIFO across chunk boundaries, with unpop restoring
// popped entries at the front and sortByTime ordering by creation time.
func TestAgingQueueChunks(t *testing.T) {
	var q agingQueue
	var want []aging
	const n = 3*agingChunk + 17
	for i := 0; i < n; i++ {
		a := aging{at: int64(i), row: uint32(i), auth: i%2 == 0}
		q.push(a)
		want = append(want, a)
	}
	check := func(step string) {
		t.Helper()
		if q.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, q.len(), len(want))
		}
		for i, a := range q.all() {
			if a != want[i] {
				t.Fatalf("%s: entry %d = %+v, want %+v", step, i, a, want[i])
			}
		}
	}
	check("push")
	var popped []aging
	for i := 0; i < agingChunk+5; i++ {
		popped = append(popped, q.pop())
	}
	want = want[agingChunk+5:]
	check("pop")
	q.unpop(popped[len(popped)-3:]) // fits in front of head
	want = append(append([]aging(nil), popped[len(popped)-3:]...), want...)
	check("unpop small")
	for range 3 {
		q.pop()
	}
	want = want[3:]
	q.unpop(popped) // more than head: rebuilt
	want = append(append([]aging(nil), popped...), want...)
	check("unpop large")
	for q.len() > 0 {
		if a := q.pop(); a != want[0] {
			t.Fatalf("drain: %+v, want %+v", a, want[0])
		}
		want = want[1:]
	}
	q.push(aging{at: 5})
	q.push(aging{at: 1})
	q.sortByTime()
	if q.front().at != 1 || q.len() != 2 {
		t.Fatalf("sortByTime: front %d len %d", q.front().at, q.len())
	}
}
