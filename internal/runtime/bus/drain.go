package bus

import (
	"sync"
	"time"
)

// DrainGrace is how long a handler has to settle its message after the drain's deadline
// cancelled its context, before the subscriber gives the message back itself.
const DrainGrace = 2 * time.Second

// DefaultDrain is the drain time of a graceful stop when none is configured.
const DefaultDrain = 10 * time.Second

// Drain is the graceful stop of every consumer in a process: Begin stops all of them from
// pulling at once (each gives back what it pulled but did not hand out), and the messages
// being handled get until Deadline to be settled. Being the one handle every consumer of
// the process shares, it also holds their states (Consumers).
type Drain struct {
	timeout   time.Duration
	consumers *Consumers

	begin, timer sync.Once
	begun        chan struct{}
	deadline     chan struct{}
}

// NewDrain returns a drain that gives in-flight messages timeout to finish.
func NewDrain(timeout time.Duration) *Drain {
	return &Drain{timeout: max(timeout, 0), consumers: NewConsumers(), begun: make(chan struct{}), deadline: make(chan struct{})}
}

// Consumers are the states of the process's consumers (for /readyz and /metrics).
func (d *Drain) Consumers() *Consumers { return d.consumers }

// Timeout is how long in-flight messages get.
func (d *Drain) Timeout() time.Duration { return d.timeout }

// Begin starts the drain (once): every subscriber stops pulling, and the deadline runs.
func (d *Drain) Begin() {
	d.begin.Do(func() { close(d.begun) })
	d.startTimer()
}

// Begun is closed once Begin was called.
func (d *Drain) Begun() <-chan struct{} { return d.begun }

// Deadline is closed when the drain time has passed since the first stop (of the
// process, or of the subscription asking).
func (d *Drain) Deadline() <-chan struct{} {
	d.startTimer()
	return d.deadline
}

func (d *Drain) startTimer() {
	d.timer.Do(func() { time.AfterFunc(d.timeout, func() { close(d.deadline) }) })
}
