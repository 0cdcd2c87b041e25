package chipserver

import (
	"context"
	"errors"
	"sync"
)

// errQueueFull is a request refused because its session's share of the
// queue, or the whole queue, is full.
var errQueueFull = errors.New("queue full")

// errStopped is a request refused because the scheduler has stopped.
var errStopped = errors.New("scheduler stopped")

// scheduler runs device work from many sessions on a fixed number of
// workers, fairly: every session has its own FIFO queue, and a free worker
// takes the head of the queue whose session has received the least device
// work so far (in MACs, or weights written), so a session that floods the
// server with large batches cannot starve one that sends a small batch now
// and then. A session that becomes active again starts at the current
// virtual time (the service level of the last job dispatched) rather than
// at its old, lower total, so that being idle earns no credit to burst
// with: start-time fair queuing with weights 1.
//
// The queue is bounded twice: at most perSession waiting jobs per session
// and at most maxDepth in all; beyond either, Do fails with errQueueFull,
// which the server answers with RESOURCE_EXHAUSTED. The per-session bound
// keeps one busy session from filling the queue that the others need.
type scheduler struct {
	mu         sync.Mutex
	work       *sync.Cond
	queues     map[any]*queue
	depth      int
	maxDepth   int
	perSession int
	vclock     float64
	seq        uint64
	stopped    bool
	running    int
	onDepth    func(depth int) // called with mu held whenever depth changes
	wg         sync.WaitGroup
}

type queue struct {
	jobs   []*job
	served float64
}

type job struct {
	fn   func()
	cost float64
	seq  uint64 // arrival order: breaks ties between equally served queues
	done chan struct{}
}

func newScheduler(workers, maxDepth, perSession int, onDepth func(int)) *scheduler {
	s := &scheduler{queues: map[any]*queue{}, maxDepth: maxDepth, perSession: perSession, onDepth: onDepth}
	s.work = sync.NewCond(&s.mu)
	for range workers {
		s.wg.Add(1)
		go s.worker()
	}
	return s
}

// Do queues fn for owner at the given cost and waits until it has run.
// When ctx ends while fn waits in the queue, fn is dropped and ctx.Err()
// returned; once fn has started, Do waits for it (fn must honour ctx
// itself).
func (s *scheduler) Do(ctx context.Context, owner any, cost float64, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{fn: fn, cost: cost, done: make(chan struct{})}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return errStopped
	}
	q := s.queues[owner]
	if q == nil {
		q = &queue{}
		s.queues[owner] = q
	}
	if s.depth >= s.maxDepth || len(q.jobs) >= s.perSession {
		s.mu.Unlock()
		return errQueueFull
	}
	if len(q.jobs) == 0 {
		// Idle time earns no credit.
		q.served = max(q.served, s.vclock)
	}
	s.seq++
	j.seq = s.seq
	q.jobs = append(q.jobs, j)
	s.setDepth(s.depth + 1)
	s.work.Signal()
	s.mu.Unlock()

	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for i, w := range q.jobs {
		if w == j {
			q.jobs = append(q.jobs[:i], q.jobs[i+1:]...)
			s.setDepth(s.depth - 1)
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	s.mu.Unlock()
	// Already taken by a worker: wait for it to finish.
	<-j.done
	return nil
}

// Forget drops owner's scheduling state (its queue must be empty: the
// session has ended).
func (s *scheduler) Forget(owner any) {
	s.mu.Lock()
	if q := s.queues[owner]; q != nil && len(q.jobs) == 0 {
		delete(s.queues, owner)
	}
	s.mu.Unlock()
}

// Depth is the number of jobs waiting.
func (s *scheduler) Depth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth
}

func (s *scheduler) setDepth(d int) {
	s.depth = d
	if s.onDepth != nil {
		s.onDepth(d)
	}
}

// next returns the head of the least-served non-empty queue, or nil.
func (s *scheduler) next() *job {
	var best *queue
	for _, q := range s.queues {
		if len(q.jobs) > 0 && (best == nil || q.served < best.served || q.served == best.served && q.jobs[0].seq < best.jobs[0].seq) {
			best = q
		}
	}
	if best == nil {
		return nil
	}
	j := best.jobs[0]
	best.jobs[0] = nil
	best.jobs = best.jobs[1:]
	s.vclock = best.served
	best.served += j.cost
	s.setDepth(s.depth - 1)
	return j
}

func (s *scheduler) worker() {
	defer s.wg.Done()
	s.mu.Lock()
	for {
		j := s.next()
		if j == nil {
			if s.stopped {
				s.mu.Unlock()
				return
			}
			s.work.Wait()
			continue
		}
		s.running++
		s.mu.Unlock()
		j.fn()
		close(j.done)
		s.mu.Lock()
		s.running--
	}
}

// Stop refuses new jobs, lets the workers finish every queued one and
// waits for them.
func (s *scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.work.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()
}
