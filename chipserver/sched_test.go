package chipserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSchedulerSharesByCost: two sessions keep the queue full, one with
// jobs ten times as costly as the other's; the scheduler gives each about
// the same device work (cost), not the same number of jobs, and neither
// waits behind the other's backlog.
func TestSchedulerSharesByCost(t *testing.T) {
	s := newScheduler(1, 100, 8, nil)
	defer s.Stop()
	var mu sync.Mutex
	served := map[string]float64{}
	var order []string
	gate := make(chan struct{})
	ctx := context.Background()
	// Hold the worker so that both backlogs are queued before any runs.
	held := make(chan struct{})
	go s.Do(ctx, "gate", 0, func() { close(held); <-gate })
	<-held
	var wg sync.WaitGroup
	submit := func(owner string, cost float64, n int) {
		for range n {
			wg.Go(func() {
				if err := s.Do(ctx, owner, cost, func() {
					mu.Lock()
					served[owner] += cost
					order = append(order, owner)
					mu.Unlock()
				}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	submit("heavy", 10, 8)
	submit("light", 1, 8)
	for s.Depth() != 16 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	// The first 10 dispatches: light's 8 jobs (cost 8 in all) are served
	// before heavy's second job (which would bring heavy to 20).
	heavyFirst := 0
	for _, o := range order[:10] {
		if o == "heavy" {
			heavyFirst++
		}
	}
	if heavyFirst > 2 {
		t.Errorf("dispatch order %v: heavy got %d of the first 10 slots, want at most 2 (fair by cost)", order, heavyFirst)
	}
	if served["heavy"] != 80 || served["light"] != 8 {
		t.Errorf("served %v", served)
	}
}

// TestSchedulerCancelAndStop: a job whose context ends while it waits is
// dropped; the bounds refuse jobs; Stop runs what is queued and refuses
// the rest.
func TestSchedulerCancelAndStop(t *testing.T) {
	s := newScheduler(1, 3, 2, nil)
	gate, held := make(chan struct{}), make(chan struct{})
	go s.Do(context.Background(), "a", 1, func() { close(held); <-gate })
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	res := make(chan error)
	go func() { res <- s.Do(ctx, "a", 1, func() { ran = true }) }()
	for s.Depth() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) || s.Depth() != 0 {
		t.Errorf("canceled while queued: %v, depth %d", err, s.Depth())
	}
	go s.Do(context.Background(), "a", 1, func() {})
	go s.Do(context.Background(), "a", 1, func() {})
	for s.Depth() != 2 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Do(context.Background(), "a", 1, func() {}); !errors.Is(err, errQueueFull) {
		t.Errorf("third job of a session with room for 2: %v", err)
	}
	go s.Do(context.Background(), "b", 1, func() {})
	for s.Depth() != 3 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Do(context.Background(), "c", 1, func() {}); !errors.Is(err, errQueueFull) {
		t.Errorf("fourth job in a queue of 3: %v", err)
	}
	close(gate)
	s.Stop()
	if ran {
		t.Error("the canceled job ran")
	}
	if s.Depth() != 0 {
		t.Errorf("Stop left %d jobs", s.Depth())
	}
	if err := s.Do(context.Background(), "a", 1, func() {}); !errors.Is(err, errStopped) {
		t.Errorf("after Stop: %v", err)
	}
}
