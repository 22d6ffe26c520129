package bus

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// maxIdleWorkers is how many idle workers a Workers pool keeps; a call that finds none
// idle starts one, so the pool never limits how many calls run at once.
const maxIdleWorkers = 256

// Workers runs handler calls on long-lived goroutines (see Middleware). The watermill
// router starts a goroutine per message, whose stack starts small and is copied each time
// it doubles on the way down through decoding, templates and JSON: 4–10 % of a service's
// CPU under load (runtime.newstack in `make bench-pipeline PIPE_PROFILE=…`). A worker
// keeps the stack it grew for its next call (BenchmarkWorkers).
type Workers struct {
	mu     sync.Mutex
	idle   []*worker
	closed bool
}

type worker struct {
	run  chan func()
	done chan any // after each call: nil, or what the call panicked with
}

// NewWorkers returns an empty pool. Close ends its idle workers.
func NewWorkers() *Workers { return &Workers{} }

// Do runs f on an idle worker (or a new one) and returns when f has returned. If f
// panics, Do panics with the same value on the caller's goroutine, as if f ran there.
func (p *Workers) Do(f func()) {
	w := p.get()
	w.run <- f
	if r := <-w.done; r != nil {
		close(w.run)
		panic(r)
	}
	p.put(w)
}

// get takes an idle worker, or starts one.
func (p *Workers) get() *worker {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w
	}
	p.mu.Unlock()
	w := &worker{run: make(chan func()), done: make(chan any)}
	go w.loop()
	return w
}

// put keeps w idle, or ends it when the pool is closed or has enough idle workers.
func (p *Workers) put(w *worker) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleWorkers {
		p.mu.Unlock()
		close(w.run)
		return
	}
	p.idle = append(p.idle, w)
	p.mu.Unlock()
}

// Close ends the idle workers, and each busy one when its call returns. Calls made after
// Close still run, each on a worker of its own.
func (p *Workers) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, w := range idle {
		close(w.run)
	}
}

func (w *worker) loop() {
	for f := range w.run {
		w.done <- w.call(f)
	}
}

func (w *worker) call(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
}

// Middleware runs each call of the handler (and of the middleware inside it) on a worker
// of p. Add it before every other middleware, so that all of them run there.
func (p *Workers) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		p.Do(func() { out, err = h(msg) })
		return out, err
	}
}
