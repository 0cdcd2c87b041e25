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

// scheduler runs device work from many sessions, at most `workers` calls
// at once, fairly: every session has its own FIFO queue, and a free slot
// goes to the head of the queue whose session has received the least
// device work so far (in MACs, or weights written), so a session that
// floods the server with large batches cannot starve one that sends a
// small batch now and then. A session that becomes active again starts at
// the current virtual time (the service level of the last job admitted)
// rather than at its old, lower total, so that being idle earns no credit
// to burst with: start-time fair queuing with weights 1.
//
// A job runs on its caller's goroutine: when a slot is free and nobody
// waits, at once; otherwise the goroutine that frees a slot hands it to
// the next job by fairness. No hop to a worker goroutine and back, which
// on a loaded machine costs more than the bookkeeping.
//
// The queue is bounded twice: at most perSession waiting jobs per session
// and at most maxDepth in all; beyond either, Do fails with errQueueFull,
// which the server answers with RESOURCE_EXHAUSTED. The per-session bound
// keeps one busy session from filling the queue that the others need.
type scheduler struct {
	mu         sync.Mutex
	queues     map[any]*queue
	depth      int // jobs waiting
	maxDepth   int
	perSession int
	workers    int // slots
	running    int // slots taken
	vclock     float64
	seq        uint64
	stopped    bool
	idle       *sync.Cond      // signalled when running and depth reach 0
	onDepth    func(depth int) // called with mu held whenever depth changes
}

type queue struct {
	jobs   []*job
	served float64
}

type job struct {
	cost  float64
	seq   uint64        // arrival order: breaks ties between equally served queues
	grant chan struct{} // closed when the job may run
}

func newScheduler(workers, maxDepth, perSession int, onDepth func(int)) *scheduler {
	s := &scheduler{queues: map[any]*queue{}, workers: max(workers, 1), maxDepth: maxDepth, perSession: perSession, onDepth: onDepth}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// Do runs fn for owner at the given cost once a slot is free and it is
// owner's turn. When ctx ends while fn waits, fn is dropped and ctx.Err()
// returned; once fn has started, Do waits for it (fn must honour ctx
// itself).
func (s *scheduler) Do(ctx context.Context, owner any, cost float64, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
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
	if len(q.jobs) == 0 {
		// Idle time earns no credit.
		q.served = max(q.served, s.vclock)
	}
	if s.running < s.workers && s.depth == 0 {
		// A free slot and nobody waiting: run now.
		s.admit(q, cost)
		s.mu.Unlock()
		s.run(fn)
		return nil
	}
	if s.depth >= s.maxDepth || len(q.jobs) >= s.perSession {
		s.mu.Unlock()
		return errQueueFull
	}
	s.seq++
	j := &job{cost: cost, seq: s.seq, grant: make(chan struct{})}
	q.jobs = append(q.jobs, j)
	s.setDepth(s.depth + 1)
	s.mu.Unlock()

	select {
	case <-j.grant:
		s.run(fn)
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
	// Granted meanwhile: the slot is ours, so run.
	<-j.grant
	s.run(fn)
	return nil
}

// admit accounts a job of q entering a slot; mu is held.
func (s *scheduler) admit(q *queue, cost float64) {
	s.running++
	s.vclock = q.served
	q.served += cost
}

// run runs fn in a slot, then hands the slot to the next job.
func (s *scheduler) run(fn func()) {
	defer func() {
		s.mu.Lock()
		s.running--
		s.grantNext()
		if s.running == 0 && s.depth == 0 {
			s.idle.Broadcast()
		}
		s.mu.Unlock()
	}()
	fn()
}

// grantNext gives free slots to the heads of the least-served queues; mu
// is held.
func (s *scheduler) grantNext() {
	for s.running < s.workers {
		var best *queue
		for _, q := range s.queues {
			if len(q.jobs) > 0 && (best == nil || q.served < best.served || q.served == best.served && q.jobs[0].seq < best.jobs[0].seq) {
				best = q
			}
		}
		if best == nil {
			return
		}
		j := best.jobs[0]
		best.jobs[0] = nil
		best.jobs = best.jobs[1:]
		s.setDepth(s.depth - 1)
		s.admit(best, j.cost)
		close(j.grant)
	}
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

// Stop refuses new jobs and waits until every queued and running job has
// run.
func (s *scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	for s.running > 0 || s.depth > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}
