package bus

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// Consumer states, as /readyz and triggerflow_consumer_consuming report them.
const (
	StateStarting  = "starting"  // created, not yet pulling
	StateConsuming = "consuming" // pulling
	StateLost      = "lost"      // the consumer was deleted or its pull ended: being re-created
	StateStopped   = "stopped"   // stopped (the process is stopping)
)

// Consumers are the durable consumers of one process: the state of each subscriber (for
// /readyz) and, on scrape, every durable's lag and the dead letters of the process's
// services (Collector). There is one per process, reached through its Drain, so every
// subscriber registers itself without new wiring.
type Consumers struct {
	mu      sync.Mutex
	subs    []*subState
	watched []natsconn.ConsumerConfig // durables read without a subscriber (FetchBatch)
}

// subState is one subscriber's state.
type subState struct {
	cfg       natsconn.ConsumerConfig
	state     string
	reason    string // why it is not consuming
	since     time.Time
	recreated int // times its consumer was re-created
}

// NewConsumers returns an empty set.
func NewConsumers() *Consumers { return &Consumers{} }

// register adds a subscriber, starting.
func (c *Consumers) register(cfg natsconn.ConsumerConfig) *subState {
	st := &subState{cfg: cfg, state: StateStarting, since: time.Now()}
	c.mu.Lock()
	c.subs = append(c.subs, st)
	c.mu.Unlock()
	return st
}

// set records a subscriber's new state.
func (c *Consumers) set(st *subState, state, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.state != state {
		st.since = time.Now()
	}
	st.state, st.reason = state, reason
}

// recreated counts one re-creation of st's consumer.
func (c *Consumers) recreated(st *subState) {
	c.mu.Lock()
	st.recreated++
	c.mu.Unlock()
}

// Watch adds a durable that the process reads without a subscriber (FetchBatch), so
// that its lag is reported too. It plays no part in readiness.
func (c *Consumers) Watch(cfg natsconn.ConsumerConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.ContainsFunc(c.watched, func(w natsconn.ConsumerConfig) bool { return w.Durable == cfg.Durable }) {
		c.watched = append(c.watched, cfg)
	}
}

// NotConsuming lists the durables of the process that are not consuming now, each with
// its state and reason ("dispatcher-plan_trigger-p03: lost (consumer deleted) for 2s"),
// sorted; none when every subscriber pulls. A durable with several subscribers is
// listed once a subscriber of it is not consuming.
func (c *Consumers) NotConsuming() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, st := range c.subs {
		if st.state == StateConsuming || seen[st.cfg.Durable] {
			continue
		}
		seen[st.cfg.Durable] = true
		s := st.cfg.Durable + ": " + st.state
		if st.reason != "" {
			s += " (" + st.reason + ")"
		}
		s += fmt.Sprintf(" for %s", time.Since(st.since).Round(time.Second))
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Ready is the readiness check of the process's consumers: an error naming every durable
// that is not consuming.
func (c *Consumers) Ready(context.Context) error {
	if bad := c.NotConsuming(); len(bad) > 0 {
		return fmt.Errorf("consumers not consuming: %s", strings.Join(bad, "; "))
	}
	return nil
}

// ServiceOf is the service of a durable named <service>-<handler> (STYLE: durable names).
func ServiceOf(durable string) string {
	if strings.HasPrefix(durable, "itsm-sync-") {
		return "itsm-sync"
	}
	svc, _, _ := strings.Cut(durable, "-")
	return svc
}
