package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type counts struct {
	hits []atomic.Int32
	// inner, if set, runs a nested For in every part.
	inner *counts
}

func (c *counts) Do(i int) {
	c.hits[i].Add(1)
	if c.inner != nil {
		For(len(c.inner.hits), c.inner)
	}
}

func newCounts(n int) *counts { return &counts{hits: make([]atomic.Int32, n)} }

func (c *counts) check(t *testing.T, want int32) {
	t.Helper()
	for i := range c.hits {
		if got := c.hits[i].Load(); got != want {
			t.Fatalf("part %d ran %d times, want %d", i, got, want)
		}
	}
}

// TestForRunsEveryPartOnce, with more parts than goroutines and fewer,
// with GOMAXPROCS 1 and 4, and from several callers at once.
func TestForRunsEveryPartOnce(t *testing.T) {
	for _, procs := range []int{1, 4} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 3, 17, 1000} {
			c := newCounts(n)
			For(n, c)
			c.check(t, 1)
		}
		var wg sync.WaitGroup
		cs := make([]*counts, 8)
		for i := range cs {
			cs[i] = newCounts(50)
			wg.Go(func() { For(50, cs[i]) })
		}
		wg.Wait()
		for _, c := range cs {
			c.check(t, 1)
		}
		runtime.GOMAXPROCS(old)
	}
}

// TestNestedForCompletes: a For inside a part must not wait for helpers
// that are busy with the outer loop.
func TestNestedForCompletes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	inner := newCounts(4)
	outer := &counts{hits: make([]atomic.Int32, 8), inner: inner}
	For(8, outer)
	outer.check(t, 1)
	inner.check(t, 8)
}

func TestForAllocatesNothing(t *testing.T) {
	c := newCounts(16)
	For(16, c) // start the helpers
	if n := testing.AllocsPerRun(100, func() { For(16, c) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func TestSplitCoversTheRangeInAlignedParts(t *testing.T) {
	for _, c := range []struct{ n, parts, align int }{{100, 8, 4}, {7, 3, 1}, {2500, 8, 8}, {5, 8, 4}} {
		next := 0
		for i := range c.parts {
			lo, hi := Split(c.n, c.parts, c.align, i)
			if lo != next || hi < lo || (hi != c.n && hi%c.align != 0) {
				t.Fatalf("%+v: part %d is [%d, %d) after %d", c, i, lo, hi, next)
			}
			next = hi
		}
		if next != c.n {
			t.Fatalf("%+v: parts end at %d", c, next)
		}
	}
}
