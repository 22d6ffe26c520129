package main_test

// The replay variant of BenchmarkPipeline: after the split deployment's load, the
// dispatcher and itsm-sync stop, `triggerflow replay` republishes every trigger of the
// load, and each service is started again alone, timed until its lanes have nothing
// pending: the dispatcher re-plans the replayed triggers, then itsm-sync finds each of
// their operations done (a skipped result, nothing sent to the sink). And the fill
// variant's second phase: `all` restarted on the store it filled (storedPhase).

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// replayResult is what the replay phase measured: n triggers replayed, each service's
// rate (per s, from its first acknowledgement to nothing pending) and its CPU per trigger
// and nats-server's over the same time.
type replayResult struct {
	n                      int
	planned, found         float64 // triggers re-planned/s (dispatcher), done operations found/s (itsm-sync)
	plannedCPU, foundCPU   float64 // µs per trigger: the service
	plannedNATS, foundNATS float64 // µs per trigger: nats-server
}

// replayPhase replays the load's triggers (stored since since) through the rig's split
// deployment and checks that nothing reached the sink again.
func replayPhase(tb testing.TB, rig *pipeRig, s *sink, since time.Time) *replayResult {
	tb.Helper()
	disp, sync := rig.find(tb, "dispatcher-0"), rig.find(tb, "itsm-sync-0")
	rig.procs[disp].stop(tb)
	rig.procs[sync].stop(tb)
	delivered := s.count()
	out, err := exec.Command(triggerflowBinary(tb), "replay", "--config", rig.config,
		"--since", since.Add(-time.Second).UTC().Format(time.RFC3339)).CombinedOutput()
	if err != nil {
		tb.Fatalf("triggerflow replay: %v\n%s", err, out)
	}
	js := natstest.JetStream(tb, rig.nats.url)
	r := &replayResult{n: delivered}
	r.planned, r.plannedCPU, r.plannedNATS = drainRate(tb, js, rig, disp, events.StreamTriggers, dispatcher.Durable, delivered)
	if left := pending(tb, js, events.StreamOps, "itsm-sync-"); left != delivered {
		tb.Fatalf("replay: %d operations planned for %d replayed triggers", left, delivered)
	}
	r.found, r.foundCPU, r.foundNATS = drainRate(tb, js, rig, sync, events.StreamOps, "itsm-sync-", delivered)
	time.Sleep(500 * time.Millisecond) // a late delivery
	if got := s.count(); got != delivered || s.dups != 0 {
		tb.Fatalf("replay: the sink got %d tickets (was %d) and %d duplicates: a done operation was performed again", got, delivered, s.dups)
	}
	return r
}

// find is the index of the process named name.
func (rig *pipeRig) find(tb testing.TB, name string) int {
	tb.Helper()
	for i, p := range rig.procs {
		if p.name == name {
			return i
		}
	}
	tb.Fatalf("no process %s", name)
	return -1
}

// drainRate restarts the stopped process rig.procs[i] and waits until the consumers of
// stream named prefix* have none of their n messages pending: the rate from the first
// acknowledgement seen, and the CPU µs per message of the process and of nats-server.
func drainRate(tb testing.TB, js jetstream.JetStream, rig *pipeRig, i int, stream, prefix string, n int) (rate, cpu, server float64) {
	tb.Helper()
	ns := rig.procs[0].pid()
	start, startNATS := time.Now(), cpuTicks(tb, ns)
	rig.procs[i] = rig.procs[i].restart(tb)
	var first time.Time
	firstLeft := n
	natstest.CheckFor(tb, 10*time.Minute, 50*time.Millisecond, func() error {
		left := pending(tb, js, stream, prefix)
		if first.IsZero() && left < n {
			first, firstLeft = time.Now(), left
		}
		if left > 0 {
			return fmt.Errorf("%s: %d of %d pending on %s", rig.procs[i].name, left, n, stream)
		}
		return nil
	})
	took, done := time.Since(first), firstLeft
	if first.IsZero() || took < 100*time.Millisecond { // drained between two polls
		took, done = time.Since(start), n
	}
	cpu = float64(cpuTicks(tb, rig.procs[i].pid())) * usPerTick / float64(n)
	server = float64(cpuTicks(tb, ns)-startNATS) * usPerTick / float64(n)
	return float64(done) / took.Seconds(), cpu, server
}

// pending is what the consumers of stream named prefix* have not acknowledged.
func pending(tb testing.TB, js jetstream.JetStream, stream, prefix string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	lister := st.ListConsumers(ctx)
	n := 0
	for ci := range lister.Info() {
		if strings.HasPrefix(ci.Name, prefix) {
			n += int(ci.NumPending) + ci.NumAckPending
		}
	}
	if err := lister.Err(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// replayTable is the replay phases' lines of the results.
func replayTable(results []pipeResult) string {
	var sb strings.Builder
	for _, r := range results {
		if p := r.replay; p != nil {
			if sb.Len() == 0 {
				sb.WriteString("\nreplay of the load's done triggers (`triggerflow replay`, then each service alone; rates from its first ack to nothing pending)\n")
			}
			fmt.Fprintf(&sb, "round %d: %d triggers; dispatcher re-planned %.0f/s (dispatcher %.0f µs, nats-server %.0f µs per trigger); "+
				"itsm-sync found %.0f done operations/s (itsm-sync %.0f µs, nats-server %.0f µs per operation)\n",
				r.round, p.n, p.planned, p.plannedCPU, p.plannedNATS, p.found, p.foundCPU, p.foundNATS)
		}
	}
	return sb.String()
}

// storedResult is the fill variant's second part: `triggerflow all` started again on the
// store the fill left, serving a paced load.
type storedResult struct {
	stored, n int
	rate      float64
	p99       time.Duration
	rss       float64 // peak RSS (VmHWM) of the restarted process, MiB
}

// storedPhase restarts `all` (rig.procs[0]) on its store and runs PIPE_RATE triggers/s
// (default 100) for PIPE_SECONDS: what the process needs with that many triggers stored,
// not while taking them in as fast as it can.
func storedPhase(tb testing.TB, rig *pipeRig, s *sink, o pipeOptions) *storedResult {
	tb.Helper()
	r := &storedResult{stored: s.count(), rate: o.rate}
	if r.rate == 0 {
		r.rate = 100
	}
	rig.procs[0].stop(tb)
	rig.procs[0] = rig.procs[0].restart(tb)
	l := runLoad(tb, rig.ingresses, o.conns, o.seconds, r.rate, 0)
	want := r.stored + len(l.started)
	natstest.CheckFor(tb, 10*time.Minute, 20*time.Millisecond, func() error {
		if got := s.count(); got < want {
			return fmt.Errorf("fill, restarted: %d of %d triggers delivered", got, want)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate
	if got := s.count(); got != want || s.dups != 0 {
		tb.Fatalf("fill, restarted: %d delivered, want %d; %d duplicates", got, want, s.dups)
	}
	r.n = len(l.started)
	lat := make([]time.Duration, 0, r.n)
	s.mu.Lock()
	for id, start := range l.started {
		lat = append(lat, s.delivered[id].Sub(start))
	}
	s.mu.Unlock()
	slices.Sort(lat)
	r.p99 = quantile(lat, 0.99)
	r.rss = peakRSS(tb, rig.procs[0].pid())
	if o.fill <= 60000 && r.rss > allRSSBudget { // PIPE_FILL: the load stops just past it
		tb.Errorf("fill: `all` restarted on %d stored triggers peaked at %.0f MiB RSS, over its %d MiB budget (nats.embedded.memory_limit)", r.stored, r.rss, allRSSBudget)
	}
	return r
}

// The memory budgets the benchmark holds the processes to (issue 16): `all` with up to
// 60,000 triggers stored, and each service of the split deployment under load.
const (
	allRSSBudget     = 200 // MiB
	serviceRSSBudget = 60  // MiB
)

// storedTable is the fill variants' second lines.
func storedTable(results []pipeResult) string {
	var sb strings.Builder
	for _, r := range results {
		if p := r.stored; p != nil {
			if sb.Len() == 0 {
				sb.WriteString("\n")
			}
			fmt.Fprintf(&sb, "fill, round %d: `all` restarted on its store of %d triggers, then %d more at %.0f/s: p99 %.1f ms, peak RSS %.0f MiB\n",
				r.round, p.stored, p.n, p.rate, ms(p.p99), p.rss)
		}
	}
	return sb.String()
}
