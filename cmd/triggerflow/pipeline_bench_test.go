package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// BenchmarkPipeline measures what a user gets: a trigger POSTed to the ingress turned
// into a delivered ITSM call, through real processes, next to the one-hop limit measured
// in the same run. Variants (PIPE_VARIANTS):
//
//   - limit: in this process, an HTTP handler that decodes the trigger and publishes it
//     synchronously to JetStream, a durable pull consumer that POSTs it to the sink and acks;
//   - all: `triggerflow all` on its embedded JetStream, as `make run` runs it;
//   - split: `triggerflow ingress`, `dispatcher`, `itsm-sync` as three processes;
//   - split-2: two processes of each (the load alternates between the two ingresses);
//   - floor (not by default): split's streams, lanes, messages and round trips in this
//     process, without the services (pipeline_floor_test.go): what the contract costs;
//     floor-3: the same in three processes, with the services' GOMAXPROCS; floor-3-2: two
//     processes of each part, as split-2;
//   - replay (not by default): split, then its load replayed (pipeline_replay_test.go);
//   - fill (not by default): all, loaded until PIPE_FILL (60000) triggers were acked, for
//     its peak RSS with that many stored.
//
// Each runs PIPE_ROUNDS times (default 2), the variants alternating within a round, each
// run on a fresh JetStream (a nats-server process but for all and fill). The load is
// PIPE_CONNS connections (16) in a closed loop for PIPE_SECONDS (10), each trigger of a
// fresh ticket; PIPE_RATE=<triggers/s> paces it instead. The sink answers 201 at once and
// records when each ticket arrived; a run fails unless every acked trigger was delivered
// exactly once and nothing else was. For all and the split variants it also says where a
// trigger's time goes, read back from the streams (pipeline_stages_test.go).
// PIPE_PROFILE=<dir> writes the processes' profiles (pipeline_profile_test.go). Run with
// `make bench-pipeline` (go test -run '^$' -bench Pipeline -benchtime 1x).
func BenchmarkPipeline(b *testing.B) {
	o := pipeOptionsFromEnv(b)
	var results []pipeResult
	for round := 1; round <= o.rounds; round++ {
		limit := 0.0
		for _, v := range o.variants {
			b.Run(fmt.Sprintf("r%d-%s", round, v), func(b *testing.B) {
				r := runVariant(b, o, v, round)
				if v == "limit" {
					limit = r.eps
				}
				if limit > 0 {
					r.ratio = r.eps / limit
					b.ReportMetric(r.ratio, "ratio")
				}
				b.ReportMetric(r.eps, "events/s")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
				results = append(results, r)
			})
		}
	}
	fmt.Println(pipeTable(o, results) + summaryTable(o, results) + stagesTable(results) + replayTable(results) + storedTable(results))
}

// pipeVariants are PIPE_VARIANTS' names, the first four the default.
var pipeVariants = []string{"limit", "all", "split", "split-2", "replay", "fill", "floor", "floor-3", "floor-3-2"}

// variantWidth is the tables' first column: the longest variant's name.
var variantWidth = len(slices.MaxFunc(pipeVariants, func(a, b string) int { return len(a) - len(b) }))

// pipeOptions are the benchmark's settings, from the environment.
type pipeOptions struct {
	seconds time.Duration
	conns   int
	rounds  int
	rate    float64
	fill    int // the fill variant's triggers
	// gomaxprocs is each service process's GOMAXPROCS (PIPE_GOMAXPROCS, default 1: what
	// deploy/k8s gives a service with its CPU limit of 1); 0: Go's default (the machine's CPUs).
	gomaxprocs int
	profile    string // PIPE_PROFILE: where to write profiles (pipeline_profile_test.go)
	variants   []string
}

func pipeOptionsFromEnv(tb testing.TB) pipeOptions {
	tb.Helper()
	num := func(key string, def float64) float64 {
		s := os.Getenv(key)
		if s == "" {
			return def
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 {
			tb.Fatalf("%s=%q: want a number ≥ 0", key, s)
		}
		return f
	}
	o := pipeOptions{
		seconds:    time.Duration(num("PIPE_SECONDS", 10) * float64(time.Second)),
		conns:      max(1, int(num("PIPE_CONNS", 16))),
		rounds:     max(1, int(num("PIPE_ROUNDS", 2))),
		rate:       num("PIPE_RATE", 0),
		fill:       max(1, int(num("PIPE_FILL", 60000))),
		gomaxprocs: int(num("PIPE_GOMAXPROCS", 1)),
		profile:    os.Getenv("PIPE_PROFILE"),
	}
	o.variants = pipeVariants[:4:4]
	if s := os.Getenv("PIPE_VARIANTS"); s != "" {
		o.variants = strings.Split(s, ",")
	}
	for _, v := range o.variants {
		if !slices.Contains(pipeVariants, v) {
			tb.Fatalf("PIPE_VARIANTS: %q is not one of %v", v, pipeVariants)
		}
	}
	return o
}

// pipeRig is one variant, running: where to POST, and the processes to account for.
type pipeRig struct {
	nats      pipeNATS
	ingresses []string
	procs     []pipeProc // nats-server first (but for the embedded server of all)
	config    string     // the config file of the last triggerflow process started
}

// pipeResult is one run of one variant.
type pipeResult struct {
	variant                                   string
	round                                     int
	acked, refused, dups                      int
	eps, ratio                                float64
	p50, p99                                  time.Duration
	jsAPI, storedT, storedKB, msgsIn, msgsOut float64 // per trigger
	cpu                                       []float64
	rss                                       []float64
	procs                                     []string
	benchCPU, pipelineCPU                     float64 // µs per event: this process (load, sink; and the limit's hop); the variant's processes
	delivered                                 int
	lastDelivery, loadTime                    time.Duration
	stages                                    *stageResult  // all's and split's (pipeline_stages_test.go)
	replay                                    *replayResult // the replay variant's
	stored                                    *storedResult // the fill variant's
}

func runVariant(b *testing.B, o pipeOptions, variant string, round int) pipeResult {
	s := newSink()
	srv := serveHTTP(b, s)
	rig := startVariant(b, variant, "http://"+srv, o)
	before := snapshot(b, rig)
	d, fill := o.seconds, 0
	if variant == "fill" {
		d, fill = time.Hour, o.fill
	}
	run := fmt.Sprintf("%s-r%d", variant, round)
	dir := o.profileDir(b)
	prof := startProfiles(dir, run, rig.procs, min(d, 20*time.Second))
	l := runLoad(b, rig.ingresses, o.conns, d, o.rate, fill)
	loadTime := time.Since(l.begin)
	natstest.CheckFor(b, 10*time.Minute, 20*time.Millisecond, func() error {
		if err := rig.exited(); err != nil {
			b.Fatal(err) // not ten minutes later
		}
		if got, want := s.count(), len(l.started); got < want {
			return fmt.Errorf("%s: %d of %d acked triggers delivered", variant, got, want)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate
	after := snapshot(b, rig)
	for _, p := range prof.finish() {
		b.Log("profile: " + p)
	}
	r := reconcile(b, variant, l, s)
	r.round, r.loadTime = round, loadTime
	if variant == "all" || strings.HasPrefix(variant, "floor") || strings.HasPrefix(variant, "split") {
		var csv string
		if dir != "" {
			csv = filepath.Join(dir, run+".stages.csv")
		}
		r.stages = stagesOf(b, rig.nats.url, l, s, csv)
	}
	n := float64(r.delivered)
	r.eps = n / r.lastDelivery.Seconds()
	r.jsAPI = float64(after.counters.jsAPI-before.counters.jsAPI) / n
	r.msgsIn = float64(after.counters.msgsIn-before.counters.msgsIn) / n
	r.storedT = float64(after.counters.stored-before.counters.stored) / n
	r.storedKB = float64(after.counters.storedBytes-before.counters.storedBytes) / 1024 / n
	r.msgsOut = float64(after.counters.msgsOut-before.counters.msgsOut) / n
	for i, p := range rig.procs {
		r.procs = append(r.procs, p.name)
		r.cpu = append(r.cpu, float64(after.ticks[i]-before.ticks[i])*usPerTick/n)
		r.rss = append(r.rss, peakRSS(b, p.pid()))
		if p.name != "nats-server" && p.name != "all" && r.rss[i] > serviceRSSBudget { // a service of split
			b.Errorf("%s: %s peaked at %.0f MiB RSS, over the %d MiB budget of a service", variant, p.name, r.rss[i], serviceRSSBudget)
		}
		r.pipelineCPU += r.cpu[i]
	}
	r.benchCPU = float64(after.self-before.self) * usPerTick / n
	switch variant {
	case "replay":
		r.replay = replayPhase(b, &rig, s, l.begin)
	case "fill":
		r.stored = storedPhase(b, &rig, s, o)
	}
	return r
}

// procSnapshot is the counters read before and after the load.
type procSnapshot struct {
	counters counters
	ticks    []int64
	self     int64
}

func snapshot(tb testing.TB, rig pipeRig) procSnapshot {
	tb.Helper()
	s := procSnapshot{counters: rig.nats.counters(tb), self: cpuTicks(tb, os.Getpid())}
	for _, p := range rig.procs {
		s.ticks = append(s.ticks, cpuTicks(tb, p.pid()))
	}
	return s
}

// reconcile matches deliveries to acked POSTs by ticket id and fails unless they are the
// same set, each delivered once.
func reconcile(tb testing.TB, variant string, l *load, s *sink) pipeResult {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := pipeResult{variant: variant, acked: len(l.started), refused: l.refused, dups: s.dups, delivered: len(s.delivered)}
	if l.refused > 0 {
		tb.Logf("%s: %d triggers refused by the ingress (not acked), first: %s", variant, l.refused, l.firstErr)
	}
	lat := make([]time.Duration, 0, len(s.delivered))
	var unacked []string
	for id, at := range s.delivered {
		start, ok := l.started[id]
		if !ok {
			unacked = append(unacked, id)
			continue
		}
		lat = append(lat, at.Sub(start))
	}
	if len(unacked) > 0 || s.dups > 0 || len(s.delivered) != len(l.started) || r.delivered == 0 {
		tb.Fatalf("%s: reconciliation failed: %d acked, %d delivered, %d duplicates, %d delivered but not acked (e.g. %v)",
			variant, r.acked, r.delivered, s.dups, len(unacked), unacked[:min(3, len(unacked))])
	}
	slices.Sort(lat)
	r.p50, r.p99 = quantile(lat, 0.5), quantile(lat, 0.99)
	r.lastDelivery = s.last.Sub(l.begin)
	return r
}

// serveHTTP serves h on a free port until cleanup and returns its host:port.
func serveHTTP(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func startVariant(tb testing.TB, variant, sinkURL string, o pipeOptions) pipeRig {
	tb.Helper()
	profile := o.profile != ""
	var rig pipeRig
	var natsYAML string
	if variant == "all" || variant == "fill" {
		// Their own, embedded JetStream, with its monitoring port for the counters.
		port, mport := natstest.FreePort(tb), natstest.FreePort(tb)
		rig.nats.url, rig.nats.monitor = "nats://127.0.0.1:"+strconv.Itoa(port), "http://127.0.0.1:"+strconv.Itoa(mport)
		natsYAML = fmt.Sprintf("nats: {embedded: {host: 127.0.0.1, port: %d, monitor_port: %d, store_dir: %q}}",
			port, mport, filepath.Join(tb.TempDir(), "nats"))
	} else {
		rig.nats = startPipeNATS(tb, profile)
		rig.procs = []pipeProc{rig.nats.pipeProc}
		natsYAML = "nats: {url: " + strconv.Quote(rig.nats.url) + "}"
	}
	switch variant {
	case "limit":
		rig.ingresses = []string{startLimit(tb, rig.nats.url, sinkURL)}
		return rig
	case "floor", "floor-3", "floor-3-2":
		replicas := map[string]int{"floor-3": 1, "floor-3-2": 2}[variant]
		ingresses, procs := startFloor(tb, rig.nats.url, sinkURL, replicas, o)
		rig.ingresses, rig.procs = ingresses, append(rig.procs, procs...)
		return rig
	}
	pw := filepath.Join(tb.TempDir(), "mediator-password")
	if err := os.WriteFile(pw, []byte(e2ePassword), 0o600); err != nil {
		tb.Fatal(err)
	}
	start := func(command, instance string) {
		ingress, admin := "127.0.0.1:"+strconv.Itoa(natstest.FreePort(tb)), "127.0.0.1:"+strconv.Itoa(natstest.FreePort(tb))
		ready := admin
		if command == "all" || command == "ingress" {
			ready = ingress
			rig.ingresses = append(rig.ingresses, ingress)
		}
		rig.config = filepath.Join(tb.TempDir(), "triggerflow.yaml")
		if err := os.WriteFile(rig.config, []byte(pipeYAML(natsYAML, admin, ingress, instance, pw, sinkURL, profile)), 0o600); err != nil {
			tb.Fatal(err)
		}
		var env []string
		if command != "all" && o.gomaxprocs > 0 { // a service, as deploy/k8s runs it: GOMAXPROCS from its CPU limit
			env = []string{"GOMAXPROCS=" + strconv.Itoa(o.gomaxprocs)}
		}
		p := startProcess(tb, instance, triggerflowBinary(tb), []string{command, "--config", rig.config}, env,
			func() error { return httpOK("http://" + ready + "/readyz") })
		if profile {
			p.debug = "http://" + admin
		}
		rig.procs = append(rig.procs, p)
	}
	switch variant {
	case "all", "fill":
		start("all", "all")
	default:
		replicas := 1
		if variant == "split-2" {
			replicas = 2
		}
		for _, command := range []string{"ingress", "dispatcher", "itsm-sync"} {
			for i := range replicas {
				start(command, command+"-"+strconv.Itoa(i))
			}
		}
	}
	return rig
}

// pipeYAML is the config of every triggerflow process: one route, CREATE → a POST to
// the sink; no SecureChange, no notifier.
func pipeYAML(natsYAML, admin, ingress, instance, pwFile, sinkURL string, pprof bool) string {
	return fmt.Sprintf(`log: {level: warn}
%[1]s
admin: {listen: %[2]q, pprof: %[8]t}
ingress:
  listen: %[3]q
  instance: %[4]q
  users: [{name: %[5]s, password_file: %[6]q}]
dispatcher: {instance: %[4]q}
itsm_sync: {instance: %[4]q}
servers:
  sink: {base_url: %[7]q}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create
        itsm:
          server: sink
          method: POST
          path: /api/now/table/change_request
          body: '{"ticket":"#ticket_id#"}'
`, natsYAML, admin, ingress, instance, e2eUser, pwFile, sinkURL, pprof)
}

// startLimit is the one-hop limit in this process: an HTTP handler that decodes the
// trigger and publishes it (awaiting JetStream's ack), and 16 workers pulling from one
// durable consumer that POST each to the sink and ack it. It returns the handler's address.
func startLimit(tb testing.TB, natsURL, sinkURL string) string {
	tb.Helper()
	js := natstest.JetStream(tb, natsURL)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LIMIT", Subjects: []string{"limit.>"}, Storage: jetstream.FileStorage}); err != nil {
		tb.Fatal(err)
	}
	cons, err := natstest.JetStream(tb, natsURL).CreateOrUpdateConsumer(ctx, "LIMIT", jetstream.ConsumerConfig{
		Durable: "limit", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 1000,
	})
	if err != nil {
		tb.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		go limitWorker(ctx, cons, client, sinkURL)
	}
	return serveHTTP(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, info, ok := readTicket(w, r)
		if !ok {
			return
		}
		data, _ := json.Marshal(info)
		if _, err := js.Publish(r.Context(), "limit."+info.ID, data, jetstream.WithMsgID("CREATE."+info.ID+"."+info.UpdateDate)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
}

// readTicket reads the POSTed trigger and decodes its ticket_info, or answers 400 (the
// limit's and the floor's ingress).
func readTicket(w http.ResponseWriter, r *http.Request) ([]byte, events.TicketInfo, bool) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		var info events.TicketInfo
		if info, err = securechange.DecodeTicketInfo(body); err == nil {
			return body, info, true
		}
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
	return nil, events.TicketInfo{}, false
}

func limitWorker(ctx context.Context, cons jetstream.Consumer, client *http.Client, sinkURL string) {
	it, err := cons.Messages(jetstream.PullMaxMessages(8))
	if err != nil {
		return
	}
	defer it.Stop()
	for ctx.Err() == nil {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if errors.Is(err, nats.ErrTimeout) {
			continue
		}
		if err != nil {
			return
		}
		var info struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(m.Data(), &info)
		if info.ID == "" {
			info.ID = strings.TrimPrefix(m.Subject(), "limit.")
		}
		res, err := client.Post(sinkURL+"/api/now/table/change_request", "application/json", strings.NewReader(`{"ticket":"`+info.ID+`"}`))
		if err != nil || res.StatusCode/100 != 2 {
			_ = m.Nak()
			continue
		}
		res.Body.Close()
		_ = m.Ack()
	}
}

// pipeTable is the results, one line per run, and the processes' CPU and peak RSS.
func pipeTable(o pipeOptions, results []pipeResult) string {
	mode := fmt.Sprintf("closed loop, %d connections", o.conns)
	if o.rate > 0 {
		mode = fmt.Sprintf("paced at %.0f triggers/s, %d connections", o.rate, o.conns)
	}
	var sb strings.Builder
	procs := "Go's default GOMAXPROCS"
	if o.gomaxprocs > 0 {
		procs = fmt.Sprintf("GOMAXPROCS=%d", o.gomaxprocs)
	}
	fmt.Fprintf(&sb, "whole pipeline, %s, %s per run, services with %s; ratio = events/s ÷ the limit's in the same round\n", mode, o.seconds, procs)
	fmt.Fprintf(&sb, "%-*s %5s %7s %7s %4s %9s %6s %8s %8s %10s %10s %9s %9s %8s %9s %10s\n",
		variantWidth, "variant", "round", "acked", "refused", "dup", "events/s", "ratio", "p50 ms", "p99 ms", "cpu µs/ev", "bench µs", "js-api/t", "stored/t", "kB-st/t", "msgs-in/t", "msgs-out/t")
	for _, r := range results {
		fmt.Fprintf(&sb, "%-*s %5d %7d %7d %4d %9.0f %6.2f %8.1f %8.1f %10.0f %10.0f %9.3f %9.2f %8.2f %9.2f %10.2f\n",
			variantWidth, r.variant, r.round, r.acked, r.refused, r.dups, r.eps, r.ratio, ms(r.p50), ms(r.p99), r.pipelineCPU, r.benchCPU, r.jsAPI, r.storedT, r.storedKB, r.msgsIn, r.msgsOut)
	}
	sb.WriteString("\nper process: CPU µs per event, peak RSS (VmHWM) MiB\n")
	for _, r := range results {
		fmt.Fprintf(&sb, "%-*s %d ", variantWidth, r.variant, r.round)
		for i, p := range r.procs {
			fmt.Fprintf(&sb, " %s %.0f µs %.0f MiB;", p, r.cpu[i], r.rss[i])
		}
		sb.WriteString("\n")
	}
	sb.WriteString("js-api/t: /jsz api.total per trigger ($JS.API requests: no stream publishes, direct gets, pull requests or acks);\n" +
		"stored/t, kB-st/t: /jsz messages and bytes per trigger (stored in every stream);\n" +
		"msgs-in/t: /varz in_msgs per trigger (every client message, acks included);\n" +
		"msgs-out/t: /varz out_msgs per trigger (every message to a client: deliveries, replies, publish acks);\n" +
		"cpu µs/ev: the variant's processes (nats-server included); bench µs: this process (load and sink, and for limit its hop too)\n")
	return sb.String()
}

// quantile is the q-quantile of sorted latencies (nearest rank, never past the last).
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*q))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
