package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Body is the work of one parallel loop; Do(i) computes part i. Parts must
// write disjoint outputs. Pass a pointer to a struct (converting it to a
// Body does not allocate).
type Body interface {
	Do(part int)
}

// job is one call of For. Helpers that receive it claim parts until none
// are left; the last of them to finish signals done.
type job struct {
	body Body
	n    int64
	next atomic.Int64
	left atomic.Int64 // invitations sent and not yet finished
	done chan struct{}
}

var (
	// work carries invitations to join a job. The callers of For serve it
	// too while they wait, so that a For nested inside a part, or a pool
	// too busy to answer, cannot deadlock.
	work    = make(chan *job, 256)
	helpers atomic.Int64
	grow    sync.Mutex
	jobs    = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}
)

// Procs is the number of goroutines For uses at most: GOMAXPROCS.
func Procs() int { return runtime.GOMAXPROCS(0) }

// For runs body.Do(i) for every i in [0, n) on up to Procs goroutines, the
// caller's included, and returns when all parts are done.
func For(n int, body Body) {
	inv := min(Procs(), n) - 1
	if inv <= 0 {
		for i := range n {
			body.Do(i)
		}
		return
	}
	ensureHelpers(inv)
	j := jobs.Get().(*job)
	j.body, j.n = body, int64(n)
	j.next.Store(0)
	j.left.Store(int64(inv))
	sent := 0
	for sent < inv {
		select {
		case work <- j:
			sent++
			continue
		default:
		}
		break
	}
	if sent < inv && j.left.Add(int64(sent-inv)) == 0 {
		sent = 0 // no helper holds the job
	}
	j.run()
	if sent > 0 {
		for waiting := true; waiting; {
			select {
			case <-j.done:
				waiting = false
			case o := <-work:
				o.help()
			}
		}
	}
	j.body = nil
	jobs.Put(j)
}

func (j *job) run() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.body.Do(int(i))
	}
}

func (j *job) help() {
	j.run()
	if j.left.Add(-1) == 0 {
		j.done <- struct{}{}
	}
}

// ensureHelpers starts helper goroutines until there are at least n. They
// live as long as the process, blocked on work when idle.
func ensureHelpers(n int) {
	if helpers.Load() >= int64(n) {
		return
	}
	grow.Lock()
	defer grow.Unlock()
	for helpers.Load() < int64(n) {
		helpers.Add(1)
		go func() {
			for j := range work {
				j.help()
			}
		}()
	}
}

// Split returns the bounds of part i of n items cut into parts nearly equal
// parts, each a multiple of align items except the last.
func Split(n, parts, align, i int) (lo, hi int) {
	units := (n + align - 1) / align
	lo = min(n, i*units/parts*align)
	hi = min(n, (i+1)*units/parts*align)
	return lo, hi
}
