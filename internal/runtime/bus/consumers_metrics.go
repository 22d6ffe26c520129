package bus

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// Scrape bounds of ConsumerCollector: a scrape reads the broker at most every
// ConsumerInfoTTL and waits for it at most ConsumerInfoTimeout, then reports what it read
// last, so a slow or absent broker never holds up /metrics.
const (
	ConsumerInfoTTL     = 5 * time.Second
	ConsumerInfoTimeout = 2 * time.Second
)

var (
	descPending = prometheus.NewDesc("triggerflow_consumer_pending_messages",
		"Messages of the stream not yet delivered to the durable consumer (its lag; JetStream's num_pending).",
		[]string{"service", "stream", "durable"}, nil)
	descAckPending = prometheus.NewDesc("triggerflow_consumer_ack_pending_messages",
		"Messages delivered to the durable consumer and not yet acknowledged (num_ack_pending).",
		[]string{"service", "stream", "durable"}, nil)
	descRedelivered = prometheus.NewDesc("triggerflow_consumer_redelivered_messages",
		"Messages delivered more than once and not yet acknowledged (num_redelivered).",
		[]string{"service", "stream", "durable"}, nil)
	descConsuming = prometheus.NewDesc("triggerflow_consumer_consuming",
		"1 while this process's subscriber of the durable consumer pulls from it, 0 while it starts, stops or re-creates a deleted consumer (what /readyz checks).",
		[]string{"service", "stream", "durable"}, nil)
	descRecreated = prometheus.NewDesc("triggerflow_consumer_recreated_total",
		"Durable consumers this process re-created after they were deleted.",
		[]string{"service", "stream", "durable"}, nil)
	descDLQ = prometheus.NewDesc("triggerflow_dlq_messages",
		"Dead letters stored in SCW_DLQ (scw.dlq.<service>.>) for the services of this process.",
		[]string{"service"}, nil)
	descInfoErrors = prometheus.NewDesc("triggerflow_consumer_info_errors_total",
		"Scrapes whose read of consumer or stream state from JetStream failed or timed out (the last values read were reported).",
		nil, nil)
)

// ConsumerCollector reports the state of the process's consumers on scrape: lag, ack
// pending and redelivered per durable (one consumer list per stream), whether each is
// consuming, and the depth of the dead-letter queue of each service.
type ConsumerCollector struct {
	JS        jetstream.JetStream
	Consumers *Consumers

	refresh sync.Mutex // one read of the broker at a time
	mu      sync.Mutex
	read    time.Time
	infos   map[string]*jetstream.ConsumerInfo // by durable
	dlq     map[string]uint64                  // by service
	errors  float64
}

var _ prometheus.Collector = (*ConsumerCollector)(nil)

// Describe sends the descriptors of every metric.
func (c *ConsumerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descRedelivered, descConsuming, descRecreated, descDLQ, descInfoErrors} {
		ch <- d
	}
}

// consumerRef is one durable to report.
type consumerRef struct {
	cfg       natsconn.ConsumerConfig
	consuming bool
	recreated int
	sub       bool
}

// snapshot is what the process runs: every durable, subscribed or watched.
func (c *ConsumerCollector) snapshot() []consumerRef {
	cs := c.Consumers
	cs.mu.Lock()
	defer cs.mu.Unlock()
	by := map[string]*consumerRef{}
	var order []string
	for _, st := range cs.subs {
		r, ok := by[st.cfg.Durable]
		if !ok {
			r = &consumerRef{cfg: st.cfg, consuming: true, sub: true}
			by[st.cfg.Durable] = r
			order = append(order, st.cfg.Durable)
		}
		r.consuming = r.consuming && st.state == StateConsuming
		r.recreated += st.recreated
	}
	for _, w := range cs.watched {
		if _, ok := by[w.Durable]; !ok {
			by[w.Durable] = &consumerRef{cfg: w}
			order = append(order, w.Durable)
		}
	}
	out := make([]consumerRef, 0, len(order))
	for _, d := range order {
		out = append(out, *by[d])
	}
	return out
}

// Collect reports the metrics, reading the broker if what was read is older than
// ConsumerInfoTTL.
func (c *ConsumerCollector) Collect(ch chan<- prometheus.Metric) {
	refs := c.snapshot()
	c.update(refs)
	c.mu.Lock()
	defer c.mu.Unlock()
	services := map[string]bool{}
	for _, r := range refs {
		labels := []string{ServiceOf(r.cfg.Durable), r.cfg.Stream, r.cfg.Durable}
		services[labels[0]] = true
		if r.sub {
			ch <- prometheus.MustNewConstMetric(descConsuming, prometheus.GaugeValue, b2f(r.consuming), labels...)
			ch <- prometheus.MustNewConstMetric(descRecreated, prometheus.CounterValue, float64(r.recreated), labels...)
		}
		if info := c.infos[r.cfg.Durable]; info != nil {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(info.NumPending), labels...)
			ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(info.NumAckPending), labels...)
			ch <- prometheus.MustNewConstMetric(descRedelivered, prometheus.GaugeValue, float64(info.NumRedelivered), labels...)
		}
	}
	if c.dlq != nil {
		for _, svc := range slices.Sorted(maps.Keys(services)) {
			ch <- prometheus.MustNewConstMetric(descDLQ, prometheus.GaugeValue, float64(c.dlq[svc]), svc)
		}
	}
	ch <- prometheus.MustNewConstMetric(descInfoErrors, prometheus.CounterValue, c.errors)
}

// update reads the consumers' and the dead-letter queue's state if the last read is
// stale; a scrape that finds a read under way reports the last values.
func (c *ConsumerCollector) update(refs []consumerRef) {
	c.mu.Lock()
	fresh := time.Since(c.read) < ConsumerInfoTTL
	c.mu.Unlock()
	if fresh || len(refs) == 0 || !c.refresh.TryLock() {
		return
	}
	defer c.refresh.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ConsumerInfoTimeout)
	defer cancel()
	infos := map[string]*jetstream.ConsumerInfo{}
	wanted := map[string]map[string]bool{} // stream → durables
	services := map[string]bool{}
	for _, r := range refs {
		if wanted[r.cfg.Stream] == nil {
			wanted[r.cfg.Stream] = map[string]bool{}
		}
		wanted[r.cfg.Stream][r.cfg.Durable] = true
		services[ServiceOf(r.cfg.Durable)] = true
	}
	failed := false
	for stream, durables := range wanted {
		st, err := c.JS.Stream(ctx, stream)
		if err != nil {
			failed = true
			continue
		}
		l := st.ListConsumers(ctx)
		for info := range l.Info() {
			if durables[info.Name] {
				infos[info.Name] = info
			}
		}
		if l.Err() != nil {
			failed = true
		}
	}
	dlq, err := dlqDepth(ctx, c.JS, services)
	if err != nil {
		failed = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if failed {
		c.errors++
		// keep what was read before for what could not be read now
		for d, info := range c.infos {
			if _, ok := infos[d]; !ok {
				infos[d] = info
			}
		}
		if dlq == nil {
			dlq = c.dlq
		}
	}
	c.infos, c.dlq, c.read = infos, dlq, time.Now()
}

// dlqDepth counts the dead letters of each service in SCW_DLQ (scw.dlq.<service>.<ticket>).
func dlqDepth(ctx context.Context, js jetstream.JetStream, services map[string]bool) (map[string]uint64, error) {
	st, err := js.Stream(ctx, events.StreamDLQ)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for svc := range services {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.DLQOf(svc)))
		if err != nil {
			return nil, err
		}
		var n uint64
		for subj, c := range info.State.Subjects {
			if strings.HasPrefix(subj, "scw.dlq."+svc+".") {
				n += c
			}
		}
		out[svc] = n
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
