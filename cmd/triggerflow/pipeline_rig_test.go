package main_test

// The parts of BenchmarkPipeline (pipeline_bench_test.go): a nats-server process with a
// monitoring port, triggerflow processes started from a testing.TB, the sink (the ITSM
// server, recording each ticket's delivery), the load (closed loop or paced), and what
// is read from /proc and the monitoring endpoints.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// pipeProc is a process of a variant whose CPU time and peak RSS are reported, with
// what it takes to start it again (the replay variant stops and restarts services).
type pipeProc struct {
	name, bin string
	args, env []string
	ready     func() error
	debug     string // where /debug/pprof/ may be served (PIPE_PROFILE)
	p         *proc
}

func (pp pipeProc) pid() int { return pp.p.cmd.Process.Pid }

// exited is an error naming the first of the rig's processes that has exited, with its
// log, or nil while they all run.
func (r pipeRig) exited() error {
	for _, pp := range r.procs {
		select {
		case <-pp.p.done:
			return fmt.Errorf("%s exited during the run (%v):\n%s", pp.name, pp.p.cmd.ProcessState, pp.p.output())
		default:
		}
	}
	return nil
}

// startProcess starts bin with args and env (startProc) and returns its name and pid.
func startProcess(tb testing.TB, name, bin string, args, env []string, ready func() error) pipeProc {
	tb.Helper()
	p := startProc(tb, name, bin, args, env, ready)
	return pipeProc{name: name, bin: bin, args: args, env: env, ready: ready, p: p}
}

// stop stops the process gracefully (SIGINT) and waits for it to exit.
func (pp pipeProc) stop(tb testing.TB) {
	tb.Helper()
	_ = pp.p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-pp.p.done:
	case <-time.After(time.Minute):
		tb.Fatalf("%s did not stop within a minute of SIGINT", pp.name)
	}
}

// restart starts the stopped process again, with the same arguments and environment.
func (pp pipeProc) restart(tb testing.TB) pipeProc {
	tb.Helper()
	p := startProcess(tb, pp.name, pp.bin, pp.args, pp.env, pp.ready)
	p.debug = pp.debug
	return p
}

// pipeNATS is a nats-server process (the same binary as natstest.StartProcess, file-backed
// JetStream) with a monitoring port, for /jsz and /varz.
type pipeNATS struct {
	pipeProc
	url, monitor string
}

func startPipeNATS(tb testing.TB, profile bool) pipeNATS {
	tb.Helper()
	dir := tb.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	prof, pport := "", 0
	if profile {
		pport = natstest.FreePort(tb)
		prof = "prof_port: " + strconv.Itoa(pport) + "\n"
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("%sjetstream {\n  max_file_store: %d\n}\n", prof, int64(natstest.MaxStore))), 0o644); err != nil {
		tb.Fatal(err)
	}
	port, mport := natstest.FreePort(tb), natstest.FreePort(tb)
	n := pipeNATS{url: "nats://127.0.0.1:" + strconv.Itoa(port), monitor: "http://127.0.0.1:" + strconv.Itoa(mport)}
	args := []string{"-c", conf, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport), "-sd", dir, "-n", "pipebench"}
	n.pipeProc = startProcess(tb, "nats-server", natstest.ServerBinary(tb), args, nil, func() error {
		return httpOK(n.monitor + "/healthz")
	})
	if profile {
		n.debug = "http://127.0.0.1:" + strconv.Itoa(pport)
	}
	return n
}

// counters are the server's totals: JetStream API requests (/jsz api.total: $JS.API
// requests only; stream publishes, direct gets, pull requests and acks are not in it),
// messages and bytes stored in all streams (/jsz messages, bytes), every message clients
// sent it (/varz in_msgs: publishes, acks, pulls, direct gets, API) and every message it
// sent clients (/varz out_msgs: deliveries, replies, publish acks).
type counters struct{ jsAPI, stored, storedBytes, msgsIn, msgsOut uint64 }

func (n pipeNATS) counters(tb testing.TB) counters {
	tb.Helper()
	var jsz struct {
		Messages uint64 `json:"messages"`
		Bytes    uint64 `json:"bytes"`
		API      struct {
			Total uint64 `json:"total"`
		} `json:"api"`
	}
	var varz struct {
		InMsgs  uint64 `json:"in_msgs"`
		OutMsgs uint64 `json:"out_msgs"`
	}
	getJSON(tb, n.monitor+"/jsz", &jsz)
	getJSON(tb, n.monitor+"/varz", &varz)
	return counters{jsAPI: jsz.API.Total, stored: jsz.Messages, storedBytes: jsz.Bytes, msgsIn: varz.InMsgs, msgsOut: varz.OutMsgs}
}

func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	res, err := readyClient.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		tb.Fatalf("%s: %v", url, err)
	}
}

func httpOK(url string) error {
	res, err := readyClient.Get(url)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d", url, res.StatusCode)
	}
	return nil
}

// cpuTicks is the process's utime+stime in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

const usPerTick = 1e6 / 100

// peakRSS is the process's VmHWM in MiB.
func peakRSS(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// sink is the ITSM server: it answers 201 at once and records when each ticket arrived.
type sink struct {
	mu        sync.Mutex
	delivered map[string]time.Time
	dups      int
	last      time.Time
}

func newSink() *sink { return &sink{delivered: map[string]time.Time{}} }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var body struct {
		Ticket string `json:"ticket"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || body.Ticket == "" {
		http.Error(w, "no ticket in body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if _, dup := s.delivered[body.Ticket]; dup {
		s.dups++
	} else {
		s.delivered[body.Ticket] = now
		s.last = now
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"result":{"sys_id":"` + body.Ticket + `"}}`))
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

// ticketSeq hands out fresh ticket ids, unique over the whole benchmark.
var ticketSeq atomic.Int64

func init() { ticketSeq.Store(1_000_000) }

func ticketXML(id string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>` + id + `</id>
    <subject>Allow web to db</subject>
    <createDate>1763884800000</createDate>
    <updateDate>1763884800000</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
</ticket_info>
`
}

// load is what the load generator did: the POST start of every acked trigger, and the
// triggers the ingress refused (not acked: they must not be delivered).
type load struct {
	mu       sync.Mutex
	started  map[string]time.Time
	refused  int
	firstErr string
	begin    time.Time
}

// runLoad posts CREATE triggers of fresh tickets to the ingresses (connection i to
// ingresses[i%len]) with conns connections for d, or with fill > 0 until fill were acked:
// a closed loop, or with rate > 0 one trigger every 1/rate s (each taken by a free
// connection).
func runLoad(tb testing.TB, ingresses []string, conns int, d time.Duration, rate float64, fill int) *load {
	tb.Helper()
	l := &load{started: map[string]time.Time{}, begin: time.Now()}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	end := l.begin.Add(d)
	var ticks chan struct{}
	if rate > 0 {
		ticks = make(chan struct{}, conns*64)
		go func() {
			defer close(ticks)
			for i := 0; ; i++ {
				next := l.begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				if next.After(end) {
					return
				}
				time.Sleep(time.Until(next))
				ticks <- struct{}{}
			}
		}()
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && !l.filled(fill) {
				if ticks != nil {
					if _, ok := <-ticks; !ok {
						return
					}
				}
				l.post(client, ingresses[i%len(ingresses)])
			}
		}()
	}
	wg.Wait()
	return l
}

// filled reports whether fill > 0 triggers were acked.
func (l *load) filled(fill int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fill > 0 && len(l.started) >= fill
}

// post sends one trigger of a fresh ticket; it is never cut off, so that what the
// ingress stored is what it acked.
func (l *load) post(client *http.Client, ingress string) {
	id := strconv.FormatInt(ticketSeq.Add(1), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+ingress+"/v1/triggers/CREATE", strings.NewReader(ticketXML(id)))
	req.Header.Set("Content-Type", "application/xml")
	req.SetBasicAuth(e2eUser, e2ePassword)
	start := time.Now()
	res, err := client.Do(req)
	var status int
	var body []byte
	if err == nil {
		status = res.StatusCode
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if status == http.StatusOK || status == http.StatusAccepted {
		l.started[id] = start
		return
	}
	l.refused++
	if l.firstErr == "" {
		l.firstErr = fmt.Sprintf("POST %s: %d %v %s", id, status, err, body)
	}
}

// TestRigExited: a process of the rig that exits mid-run is named, with its exit status
// and log, so BenchmarkPipeline fails at once rather than after its ten-minute wait.
func TestRigExited(t *testing.T) {
	t.Parallel()
	ready := func() error { return nil }
	start := filepath.Join(t.TempDir(), "go") // "dies" exits once it exists: after its start
	rig := pipeRig{procs: []pipeProc{
		startProcess(t, "stays", "sh", []string{"-c", "exec sleep 600"}, nil, ready),
		startProcess(t, "dies", "sh", []string{"-c", `echo boom; while [ ! -e "$1" ]; do sleep 0.05; done; exit 3`, "sh", start}, nil, ready),
	}}
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if rig.exited() == nil {
			return errors.New("no process exited yet")
		}
		return nil
	})
	err := rig.exited()
	for _, want := range []string{"dies exited", "exit status 3", "boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
