package main_test

// Shared by the ordering tests (order_e2e_test.go): a strict ServiceNow-like ITSM server
// that records every request it gets, the one config every process of those tests runs
// with, the pipeline of real processes, the workload driver that sends triggers through
// the seed mediator the way SecureChange does, and the per-ticket analysis.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// ---------------------------------------------------------------------------------------
// The config: ONE place for every process of the ordering tests.

// pipelineConfig is the config file of every process of the ordering tests (ingress,
// dispatcher, itsm-sync replicas, notifier); only the addresses and the instance name
// differ between processes. Adjust the knobs here when the fix lands.
type pipelineConfig struct {
	NATS, Admin, Ingress, Instance string
	// Replicas is nats.replicas: 1 (or 0) on a lone server, 3 on a 3-node cluster (every
	// stream and bucket on each node, as deploy/k8s/overlays/production has it).
	Replicas int
	// LogLevel is log.level: warn when empty (info on a cluster: its failures are read
	// from the services' logs, which the test prints when it fails).
	LogLevel string
	// AckWait is itsm_sync.ack_wait: itsmAckWait when 0.
	AckWait time.Duration
	// DispatcherAckWait is dispatcher.ack_wait: the default, 30 s, when 0.
	DispatcherAckWait      time.Duration
	MediatorPasswordFile   string
	ITSM, ITSMPasswordFile string
	SMTPHost               string
	SMTPPort               int
}

// Timing the config is built around.
const (
	// itsmTimeout is servers.snow.timeout: above the slowest create (3 s) with room for a
	// loaded CI machine. A timed-out create that the server accepted would be sent again.
	itsmTimeout = 6 * time.Second
	// itsmAckWait is itsm_sync.ack_wait: how long an operation in flight on a SIGKILLed
	// replica stays unavailable (a live replica extends it while it works).
	itsmAckWait = 5 * time.Second
)

func (c pipelineConfig) YAML() string {
	return fmt.Sprintf(`log: {level: %[14]s}
nats: {url: %[1]q, replicas: %[13]d}
admin: {listen: %[2]q}
ingress:
  listen: %[3]q
  publish_timeout: 5s
  instance: %[4]q
  users:
    - {name: %[5]s, password_file: %[6]q}
servers:
  snow:
    base_url: %[7]q
    headers: {Accept: application/json, X-Replica: %[4]q}   # lets the ITSM fixture tell the replicas apart
    timeout: %[10]s
    concurrency: 8
    auth: {basic: {user: triggerflow.integration, password_file: %[8]q}}
    # Sized so that a 60 s outage is ridden out (not dead-lettered) and recovery is quick.
    breaker: {failures: 5, open_for: 5s}
    retry: {backoff: 1s, max_backoff: 5s, max_retry_after: 10s}   # retry.attempts stays the default (8): an outage is not counted against it
itsm_sync:
  instance: %[4]q
  ack_wait: %[11]s   # redelivery of what a SIGKILLed replica held; see itsmAckWait
# On SIGTERM in-flight operations get this long: more than the slowest create (3 s), so a
# SIGTERM cuts nothing off.
shutdown: {drain_timeout: 10s}
dispatcher: {instance: %[4]q, ack_wait: %[15]s}   # redelivery of what a SIGKILLed dispatcher held
notifier: {instance: %[4]q}
smtp: {host: %[9]q, port: %[12]d, starttls: false, from: "triggerflow@example.com"}
notifications: {on_failure: ["ops@example.com"]}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create-change
        itsm:
          server: snow
          method: POST
          path: /api/now/table/change_request
          body: '{"short_description":"#ticket_subject#","correlation_id":"#trigger_id#","u_ticket":"#ticket_id#","u_event":"#event#","u_trigger":"#trigger_id#","u_update":"#trigger.update_date#"}'
          response:
            correlate: {sys_id: "#result.sys_id#", number: "#result.number#"}
          # NO lookup: the SIGTERM restarts alone must cause no duplicate.
  - name: step-completed
    on: {event: ADVANCE}
    actions:
      - name: work-note
        itsm:
          server: snow
          method: PATCH
          path: /api/now/table/change_request/#correlation.sys_id#
          body: '{"work_notes":"Step completed: #previous_step_name#","u_ticket":"#ticket_id#","u_event":"#event#","u_trigger":"#trigger_id#","u_update":"#trigger.update_date#"}'
  - name: closed
    on: {event: CLOSE}
    actions:
      - name: close-change
        itsm:
          server: snow
          method: PATCH
          path: /api/now/table/change_request/#correlation.sys_id#
          body: '{"state":"3","close_code":"successful","close_notes":"Closed in SecureChange","u_ticket":"#ticket_id#","u_event":"#event#","u_trigger":"#trigger_id#","u_update":"#trigger.update_date#"}'
`, c.NATS, c.Admin, c.Ingress, c.Instance, e2eUser, c.MediatorPasswordFile, c.ITSM, c.ITSMPasswordFile,
		c.SMTPHost, durYAML(itsmTimeout), durYAML(cmp.Or(c.AckWait, itsmAckWait)), c.SMTPPort, max(c.Replicas, 1), cmp.Or(c.LogLevel, "warn"),
		durYAML(cmp.Or(c.DispatcherAckWait, 30*time.Second)))
}

func durYAML(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }

// ---------------------------------------------------------------------------------------
// The ITSM fixture.

const (
	itsmUser     = "triggerflow.integration"
	itsmPassword = "itsm-e2e-password"
	itsmTable    = "/api/now/table/change_request"
)

// itsmReq is one request the ITSM fixture received.
type itsmReq struct {
	Seq              int // arrival order, over the whole server
	Method, Path     string
	Replica          string // X-Replica: which itsm-sync process sent it
	Key              string // Idempotency-Key: the operation id
	Ticket, Event    string
	Trigger, Update  string
	SysID            string // the record created (POST) or addressed (PATCH)
	Start, End       time.Time
	Status           int    // the answer (given, or meant when Cut)
	Applied          bool   // the server accepted it: a record created or updated
	Cut              bool   // the client went away before the answer
	Refusal          string // why it was not applied (503, 401, 400, 404, …)
	RecordTicketDiff string // a PATCH whose record belongs to another ticket
}

func (r *itsmReq) kind() string {
	switch {
	case r.Method == http.MethodPost:
		return "create"
	case r.Event == "CLOSE":
		return "close"
	case r.Event == "ADVANCE":
		return "advance"
	}
	return strings.ToLower(r.Method)
}

type itsmRecord struct {
	SysID, Number, Ticket string
}

// itsmFixture is a strict ServiceNow-ish Table API: POST creates a change_request (the
// record exists from the moment the request arrives, as in a real ITSM, whose
// transaction goes on when the client hangs up) and answers after 1–3 s; PATCH updates
// one (404 for an unknown sys_id) and answers quickly. Basic auth, a JSON body with the
// fields the routes send, and Content-Type application/json are required. It records
// every request, and can be made unavailable (503 + Retry-After) or taken down
// (connections refused) and brought back on the same port.
type itsmFixture struct {
	t0     time.Time
	addr   string
	URL    string
	pwFile string

	createMin, createMax time.Duration

	mu          sync.Mutex
	rng         *rand.Rand
	reqs        []*itsmReq
	records     map[string]*itsmRecord
	unavailable bool
	retryAfter  int
	srv         *http.Server
	serveDone   chan struct{}
}

func newITSMFixture(t *testing.T, t0 time.Time, seed uint64) *itsmFixture {
	t.Helper()
	f := &itsmFixture{
		t0: t0, createMin: time.Second, createMax: 3 * time.Second,
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), records: map[string]*itsmRecord{}, retryAfter: 5,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.URL = "http://" + f.addr
	f.pwFile = filepath.Join(t.TempDir(), "itsm-password")
	if err := os.WriteFile(f.pwFile, []byte(itsmPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	f.serve(ln)
	t.Cleanup(func() {
		f.mu.Lock()
		srv, done := f.srv, f.serveDone
		f.srv = nil
		f.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
			<-done
		}
	})
	return f
}

func (f *itsmFixture) serve(ln net.Listener) {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	f.mu.Lock()
	f.srv, f.serveDone = srv, done
	f.mu.Unlock()
	go func() { defer close(done); _ = srv.Serve(ln) }()
}

// SetUnavailable makes every request that arrives get 503 with Retry-After (on) or be
// served again (off). Requests already being served finish normally.
func (f *itsmFixture) SetUnavailable(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unavailable = on
}

// Down closes the listener (new connections are refused) and lets the requests in
// flight finish, as a node taken out of a load balancer does; it returns how long they
// took.
func (f *itsmFixture) Down(t *testing.T) time.Duration {
	t.Helper()
	f.mu.Lock()
	srv, done := f.srv, f.serveDone
	f.srv = nil
	f.mu.Unlock()
	if srv == nil {
		t.Fatal("itsm fixture: already down")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("itsm fixture: shutdown: %v", err)
	}
	<-done
	return time.Since(start)
}

// Up listens on the same address again.
func (f *itsmFixture) Up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		ln, err = net.Listen("tcp", f.addr)
		return err
	})
	f.serve(ln)
}

func (f *itsmFixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in struct {
		ShortDescription *string `json:"short_description"`
		CorrelationID    string  `json:"correlation_id"`
		Ticket           string  `json:"u_ticket"`
		Event            string  `json:"u_event"`
		Trigger          string  `json:"u_trigger"`
		Update           string  `json:"u_update"`
	}
	jsonErr := json.Unmarshal(body, &in)
	req := &itsmReq{
		Method: r.Method, Path: r.URL.Path, Replica: r.Header.Get("X-Replica"), Key: r.Header.Get("Idempotency-Key"),
		Ticket: in.Ticket, Event: in.Event, Trigger: in.Trigger, Update: in.Update, Start: time.Now(),
	}
	status, answer, delay := f.decide(req, r, body, jsonErr, in.ShortDescription != nil && in.CorrelationID != "")
	if req.Refusal == "503" {
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done(): // the client hung up: what was accepted stays accepted
		f.mu.Lock()
		req.End, req.Cut = time.Now(), true
		f.mu.Unlock()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
	f.mu.Lock()
	req.End = time.Now()
	f.mu.Unlock()
}

// decide records req and applies it; it returns the answer and how long to take.
func (f *itsmFixture) decide(req *itsmReq, r *http.Request, body []byte, jsonErr error, createFields bool) (int, string, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req.Seq = len(f.reqs)
	f.reqs = append(f.reqs, req)
	refuse := func(status int, why, msg string) (int, string, time.Duration) {
		req.Status, req.Refusal = status, why
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg}, "status": "failure"})
		return status, string(b), 5 * time.Millisecond
	}
	if f.unavailable {
		return refuse(http.StatusServiceUnavailable, "503", "Service Unavailable: the instance is under maintenance")
	}
	if u, p, ok := r.BasicAuth(); !ok || u != itsmUser || p != itsmPassword {
		return refuse(http.StatusUnauthorized, "401", "User Not Authenticated")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return refuse(http.StatusUnsupportedMediaType, "415", "Content-Type must be application/json, not "+ct)
	}
	if jsonErr != nil || req.Ticket == "" || req.Event == "" || req.Trigger == "" || req.Update == "" {
		return refuse(http.StatusBadRequest, "400", fmt.Sprintf("bad body (%v): %.200s", jsonErr, body))
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == itsmTable:
		if !createFields {
			return refuse(http.StatusBadRequest, "400", "short_description and correlation_id are required")
		}
		rec := &itsmRecord{SysID: fmt.Sprintf("%016x%016x", f.rng.Uint64(), f.rng.Uint64()), Number: fmt.Sprintf("CHG%07d", 1000+len(f.records)), Ticket: req.Ticket}
		f.records[rec.SysID] = rec
		req.SysID, req.Status, req.Applied = rec.SysID, http.StatusCreated, true
		delay := f.createMin + time.Duration(f.rng.Int64N(int64(f.createMax-f.createMin)+1))
		b, _ := json.Marshal(map[string]any{"result": map[string]string{"sys_id": rec.SysID, "number": rec.Number, "correlation_id": req.Trigger, "state": "-5"}})
		return http.StatusCreated, string(b), delay
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, itsmTable+"/"):
		id := strings.TrimPrefix(r.URL.Path, itsmTable+"/")
		rec, ok := f.records[id]
		req.SysID = id
		if !ok {
			return refuse(http.StatusNotFound, "404", "No Record found: "+id)
		}
		if rec.Ticket != req.Ticket {
			req.RecordTicketDiff = rec.Ticket
		}
		req.Status, req.Applied = http.StatusOK, true
		delay := 20*time.Millisecond + time.Duration(f.rng.Int64N(int64(60*time.Millisecond)))
		b, _ := json.Marshal(map[string]any{"result": map[string]string{"sys_id": rec.SysID, "number": rec.Number}})
		return http.StatusOK, string(b), delay
	case r.URL.Path == itsmTable || strings.HasPrefix(r.URL.Path, itsmTable+"/"):
		return refuse(http.StatusMethodNotAllowed, "405", "Method not allowed: "+r.Method)
	}
	return refuse(http.StatusBadRequest, "400", "Invalid table: "+r.URL.Path)
}

// Requests returns a copy of every request so far, in arrival order.
func (f *itsmFixture) Requests() []itsmReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]itsmReq, len(f.reqs))
	for i, r := range f.reqs {
		out[i] = *r
	}
	return out
}

// InFlight counts the requests of kind ("" for any) from replica ("" for any) still
// being answered.
func (f *itsmFixture) InFlight(replica, kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if r.End.IsZero() && (replica == "" || r.Replica == replica) && (kind == "" || r.kind() == kind) {
			n++
		}
	}
	return n
}

// inFlightAt returns the sequence numbers of replica's requests in flight at time at.
func (f *itsmFixture) inFlightAt(replica string, at time.Time) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, r := range f.reqs {
		if r.Replica == replica && !r.Start.After(at) && (r.End.IsZero() || r.End.After(at)) {
			out = append(out, r.Seq)
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// The pipeline: a nats-server process and the triggerflow services as processes.

// replica is a service process and what starts it again: its command, config and the
// address whose /readyz says it is up (admin.listen; the ingress's listener).
type replica struct {
	name, command, admin, yaml string
	p                          *proc
}

type pipeline struct {
	t       *testing.T
	ns      *natstest.Process        // the lone nats-server (nil on a cluster)
	cluster *natstest.ProcessCluster // the cluster (pipelineOptions.cluster), or nil
	nodeOf  map[string]int           // on a cluster: the node each service was started on
	itsm    *itsmFixture
	mail    *smtptest.Server
	ingress string
	others  map[string]*replica // ingress, dispatcher, notifier
	sync    map[string]*replica
	js      jetstream.JetStream
	runner  securechangetest.Runner
}

// startPipeline starts nats-server, the ingress, the dispatcher, one itsm-sync process
// per name in replicas (named so in X-Replica and itsm_sync.instance) and the notifier.
func startPipeline(t *testing.T, itsm *itsmFixture, replicas ...string) *pipeline {
	t.Helper()
	return startPipelineWith(t, itsm, pipelineOptions{}, replicas...)
}

// pipelineOptions are the variants of startPipelineWith; the zero value is startPipeline's.
type pipelineOptions struct {
	// cluster runs the pipeline on a JetStream cluster of nats-server processes instead of
	// a lone nats-server: nats.replicas is its size, and the services are spread over its
	// nodes (clusterNode), so that the operations of one ticket are written through one
	// server and read through another. The first service creates the streams and buckets
	// on the fresh cluster, as in a deployment (natsconn's TestConcurrentProvisionOnACluster
	// has every service do it at once); each service starts once the previous one's
	// /readyz answers, which it does once its start has finished.
	cluster *natstest.ProcessCluster
	// ackWait is itsm_sync.ack_wait (0: itsmAckWait, 5 s, for the tests that SIGKILL a
	// replica). A test that takes NATS away needs it above the outage, as the default
	// (30 s) is: meanwhile a replica cannot extend the operation it performs, and with
	// 5 s another replica took it and performed it again before the first could record
	// its outcome.
	ackWait time.Duration
	// dispatcherAckWait is dispatcher.ack_wait (0: the default, 30 s).
	dispatcherAckWait time.Duration
}

// clusterNode is the node a service connects to on a cluster of n nodes: ingress 0,
// dispatcher 1, itsm-sync replica i (in startPipeline's order) 2+i, notifier 1 (all
// modulo n). A trigger is stored through node 0, planned through node 1 and its
// operations run through nodes 2 and 0, so each hop's reads cross servers. nats.url holds
// that one node only: it accepts a comma-separated list, but nats.go shuffles it (natsconn
// does not set DontRandomize), which would put a service on any node; with one URL the
// client still fails over, to the other nodes the server announces (INFO connect_urls).
func clusterNode(service string, replica, n int) int {
	switch service {
	case "ingress":
		return 0
	case "dispatcher", "notifier":
		return 1 % n
	}
	return (2 + replica) % n
}

// startPipelineWith is startPipeline with options.
func startPipelineWith(t *testing.T, itsm *itsmFixture, opts pipelineOptions, replicas ...string) *pipeline {
	t.Helper()
	pl := &pipeline{t: t, cluster: opts.cluster, itsm: itsm, sync: map[string]*replica{}, others: map[string]*replica{}, nodeOf: map[string]int{}}
	natsURL, nreplicas, logLevel := func(string, int) string { return pl.ns.URL() }, 1, ""
	var testURL string
	if c := opts.cluster; c != nil {
		nreplicas, logLevel = len(c.Nodes), "info"
		natsURL = func(service string, replica int) string {
			i := clusterNode(service, replica, len(c.Nodes))
			pl.nodeOf[service] = i
			return c.Nodes[i].URL()
		}
		// The test's own reads go to any node and follow it through a node's loss.
		testURL = strings.Join(c.URLs(), ",")
	} else {
		pl.ns = natstest.StartProcess(t)
		testURL = pl.ns.URL()
	}
	pl.mail = smtptest.New(t)
	mediatorPW := passwordFile(t)
	cfg := func(service string, replica int, instance, admin, ingress string) string {
		return pipelineConfig{
			NATS: natsURL(service, replica), Replicas: nreplicas, LogLevel: logLevel, AckWait: opts.ackWait, DispatcherAckWait: opts.dispatcherAckWait, Admin: admin, Ingress: ingress, Instance: instance,
			MediatorPasswordFile: mediatorPW, ITSM: itsm.URL, ITSMPasswordFile: itsm.pwFile,
			SMTPHost: pl.mail.Host, SMTPPort: pl.mail.Port,
		}.YAML()
	}
	pl.ingress = freeAddr(t)
	ing := &replica{name: "ingress", command: "ingress", admin: pl.ingress}
	ing.yaml = cfg("ingress", 0, "ingress", freeAddr(t), pl.ingress)
	ing.p = startTriggerflow(t, "ingress", ing.yaml, ing.admin)
	pl.others["ingress"] = ing
	for _, name := range []string{"dispatcher", "notifier"} {
		r := &replica{name: name, command: name, admin: freeAddr(t)}
		r.yaml = cfg(name, 0, name, r.admin, freeAddr(t))
		r.p = startTriggerflow(t, name, r.yaml, r.admin)
		pl.others[name] = r
	}
	for i, name := range replicas {
		r := &replica{name: name, command: "itsm-sync", admin: freeAddr(t)}
		r.yaml = cfg("itsm-sync "+name, i, name, r.admin, freeAddr(t))
		r.p = startTriggerflow(t, "itsm-sync", r.yaml, r.admin)
		pl.sync[name] = r
	}
	pl.js = natstest.JetStream(t, testURL)

	script, err := securechangetest.InstallMediator(t.TempDir(), securechangetest.MediatorSettings{
		Host: pl.ingress, Endpoint: "trigger_file", Username: e2eUser, Password: e2ePassword, ExecScript: execScript,
	})
	if err != nil {
		t.Fatal(err)
	}
	shim, err := securechangetest.PythonShim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pl.runner = securechangetest.Runner{
		Script: script,
		Args:   []string{"first-arg-dropped-by-mediator"},
		Env:    []string{"PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH")},
	}
	return pl
}

// signalEvent is a signal sent to an itsm-sync replica.
type signalEvent struct {
	Sig       syscall.Signal
	Replica   string
	At        time.Time
	ExitAfter time.Duration
	InFlight  []int // sequence numbers of the replica's ITSM requests in flight at the signal
}

func (e signalEvent) name() string {
	if e.Sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// signal sends sig to a replica and waits for the process to exit.
func (pl *pipeline) signal(name string, sig syscall.Signal) signalEvent {
	pl.t.Helper()
	r := pl.sync[name]
	ev := signalEvent{Sig: sig, Replica: name, At: time.Now()}
	if err := r.p.cmd.Process.Signal(sig); err != nil {
		pl.t.Fatalf("signal %s: %v", name, err)
	}
	select {
	case <-r.p.done:
	case <-time.After(90 * time.Second):
		pl.t.Fatalf("itsm-sync %s did not exit within 90s of %s", name, ev.name())
	}
	ev.ExitAfter = time.Since(ev.At)
	ev.InFlight = pl.itsm.inFlightAt(name, ev.At)
	return ev
}

// timelinesOnFailure prints, if the test fails, the timelines of the tickets that went
// wrong (analyze), as the ITSM server saw them.
func (pl *pipeline) timelinesOnFailure(wl *workload) {
	pl.t.Cleanup(func() {
		if pl.t.Failed() {
			reqs := pl.itsm.Requests()
			analyze(wl, reqs, nil).timelines(pl.t, wl, reqs, nil, 12)
		}
	})
}

// verify is the end of an ordering test without signals to the replicas: what the ITSM
// server saw per ticket (analyze: one create, the updates in order, none lost, none sent
// twice), every operation's outcome, and no service gone on its own.
func (pl *pipeline) verify(wl *workload) {
	t := pl.t
	t.Helper()
	reqs := pl.itsm.Requests()
	t.Logf("ITSM server: %s", reqStats(reqs))
	a := analyze(wl, reqs, nil)
	t.Logf("result: %s", a.summary())
	pl.checkOutcomes(wl)
	a.assert(t)
	if gone := pl.exited(); gone != "" {
		t.Errorf("service processes exited on their own during the test: %s", gone)
	}
}

// exited lists the service processes that exited on their own (a replica the test
// signalled counts by the process it was started again as), with how; "" when none.
func (pl *pipeline) exited() string {
	procs := map[string]*proc{}
	for name, r := range pl.others {
		procs[name] = r.p
	}
	for name, r := range pl.sync {
		procs["itsm-sync "+name] = r.p
	}
	var out []string
	for name, p := range procs {
		select {
		case <-p.done:
			out = append(out, fmt.Sprintf("%s (%s; its log is at the end of the test's output)", name, p.cmd.ProcessState))
		default:
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// restart starts an itsm-sync replica again with the same config.
func (pl *pipeline) restart(name string) {
	pl.t.Helper()
	r := pl.sync[name]
	r.p = startTriggerflow(pl.t, r.command, r.yaml, r.admin)
}

// kill9 kills a service process of pl.others with SIGKILL, waits for it to exit, and
// starts it again with the same config; it returns when the new process is ready.
func (pl *pipeline) kill9(name string) {
	pl.t.Helper()
	r := pl.others[name]
	if err := r.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		pl.t.Fatalf("SIGKILL %s: %v", name, err)
	}
	<-r.p.done
	r.p = startTriggerflow(pl.t, r.command, r.yaml, r.admin)
}

// resultInfo is what the ordering tests read from a result (parsed loosely, so the test
// survives changes of the Go type).
type resultInfo struct {
	OperationID string `json:"operation_id"`
	TriggerID   string `json:"trigger_id"`
	Ticket      string `json:"ticket"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	Attempts    []struct {
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Lookup    bool   `json:"lookup"`
		Transient bool   `json:"transient"`
	} `json:"attempts"`
}

func (pl *pipeline) results() []resultInfo {
	pl.t.Helper()
	rs, err := pl.readResults()
	if err != nil {
		pl.t.Fatal(err)
	}
	return rs
}

// readResults reads every itsm result. On a cluster it reads through SCW_RESULTS' leader
// (natstest.LeaderMsgs): a direct get may be answered by a follower still missing a
// result, which would count as never written; a failed read there (a leader election
// after a node's loss) is an error to retry, not the end of the test.
func (pl *pipeline) readResults() ([]resultInfo, error) {
	const stream, subject = "SCW_RESULTS", "scw.result.itsm.>"
	var msgs []*jetstream.RawStreamMsg
	if pl.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var err error
		if msgs, err = natstest.LeaderMsgs(ctx, pl.js, stream, subject); err != nil {
			return nil, err
		}
	} else {
		msgs = natstest.Msgs(pl.t, pl.js, stream, subject)
	}
	var out []resultInfo
	for _, m := range msgs {
		var r resultInfo
		if err := json.Unmarshal(m.Data, &r); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// backlog lists the consumers of a stream that still have messages to deliver or to
// see acked ("" when none).
func (pl *pipeline) backlog(stream string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := pl.js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	var busy []string
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			busy = append(busy, fmt.Sprintf("%s (%d pending, %d unacked)", ci.Name, ci.NumPending, ci.NumAckPending))
		}
	}
	return strings.Join(busy, ", "), l.Err()
}

// streamMsgs counts a stream's messages; ok is false when it does not exist.
func (pl *pipeline) streamMsgs(stream string) (n uint64, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := pl.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, false
	}
	if err != nil {
		pl.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		pl.t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs, true
}

// waitSettled waits until every trigger sent has a result (succeeded or failed), no
// consumer of SCW_TRIGGERS or SCW_OPS has anything left to deliver or to see acked, and
// the ITSM server has nothing in flight.
func (pl *pipeline) waitSettled(wl *workload, timeout time.Duration) {
	pl.t.Helper()
	natstest.CheckFor(pl.t, timeout, time.Second, func() error {
		ids := wl.triggerIDs()
		results, err := pl.readResults()
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, r := range results {
			got[r.TriggerID] = true
		}
		missing := 0
		for id := range ids {
			if !got[id] {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d triggers have no itsm result yet", missing, len(ids))
		}
		for _, s := range []string{"SCW_TRIGGERS", "SCW_OPS"} {
			busy, err := pl.backlog(s)
			if err != nil {
				return err
			}
			if busy != "" {
				return fmt.Errorf("consumers of %s still hold messages: %s", s, busy)
			}
		}
		if n := pl.itsm.InFlight("", ""); n > 0 {
			return fmt.Errorf("%d ITSM requests in flight", n)
		}
		return nil
	})
}

// checkOutcomes asserts a succeeded result for every operation, no failed one, no dead
// letter, nothing parked (a stream the fix may add), and logs the failure alerts.
func (pl *pipeline) checkOutcomes(wl *workload) {
	t := pl.t
	t.Helper()
	status := map[string]map[string]int{} // trigger id → status → count
	attempts, failedAttempts, retried := 0, 0, 0
	for _, r := range pl.results() {
		attempts += len(r.Attempts)
		if len(r.Attempts) > 1 {
			retried++
		}
		for _, a := range r.Attempts {
			if a.Error != "" {
				failedAttempts++
			}
		}
		if status[r.TriggerID] == nil {
			status[r.TriggerID] = map[string]int{}
		}
		status[r.TriggerID][r.Status]++
		if r.Status != "succeeded" {
			t.Errorf("ticket %s: %s result for operation %s: %s", r.Ticket, r.Status, r.OperationID, r.Error)
		}
	}
	noSuccess := 0
	for id, tr := range wl.triggerIDs() {
		if status[id]["succeeded"] == 0 {
			noSuccess++
			t.Errorf("ticket %s: %s (trigger %s) has no succeeded result", tr.ticket, tr.label(), id)
		}
	}
	dlq, _ := pl.streamMsgs("SCW_DLQ")
	if dlq != 0 {
		t.Errorf("SCW_DLQ holds %d dead letters", dlq)
	}
	if n, ok := pl.streamMsgs("SCW_PARKED"); ok && n != 0 {
		t.Errorf("SCW_PARKED holds %d operations", n)
	}
	alerts := pl.mail.Messages()
	t.Logf("outcomes: %d triggers, %d without a succeeded result; the results list %d attempts, %d of them failed (%d operations tried more than once); SCW_DLQ %d; failure alerts emailed so far: %d",
		len(wl.triggerIDs()), noSuccess, attempts, failedAttempts, retried, dlq, len(alerts))
	for i, m := range alerts {
		if i == 5 {
			break
		}
		if m.Parsed != nil {
			t.Logf("  alert: %s", m.Parsed.Header.Get("Subject"))
		}
	}
}

// ---------------------------------------------------------------------------------------
// The workload: tickets driven through the seed mediator.

var (
	steps     = []string{"CREATE", "ADVANCE", "ADVANCE", "CLOSE"}
	stepLabel = []string{"CREATE", "ADVANCE#1", "ADVANCE#2", "CLOSE"}
	stepFile  = []string{"create", "advance", "advance", "close"}
	storedRE  = regexp.MustCompile(`^triggerflow: stored (\S+) for ticket (\S+) as trigger (\S+)`)
	idRE      = regexp.MustCompile(`<id>[^<]*</id>`)
	updateRE  = regexp.MustCompile(`<updateDate>[^<]*</updateDate>`)
	createRE  = regexp.MustCompile(`<createDate>[^<]*</createDate>`)
)

// sentTrigger is one trigger of a ticket: planned, then sent.
type sentTrigger struct {
	ticket string
	step   int
	update string
	xml    []byte

	mu        sync.Mutex
	triggerID string
	sentAt    time.Time // the mediator started
	doneAt    time.Time // the mediator exited
	attempts  int
	err       string
}

func (s *sentTrigger) label() string { return stepLabel[s.step] }

type ticketPlan struct {
	id       string
	start    time.Duration
	triggers []*sentTrigger
}

// workload sends each ticket's CREATE, ADVANCE, ADVANCE, CLOSE, gap apart, tickets
// staggered over spread, with at most parallel mediator runs at once (bash + curl +
// python each: a 2-core machine runs a few at a time).
type workload struct {
	t0       time.Time
	tickets  []*ticketPlan
	byKey    map[string]*sentTrigger // ticket + "/" + updateDate
	gap      time.Duration
	parallel int
}

// newWorkload plans n tickets numbered from firstID. Each trigger's updateDate differs
// (base + step minutes), so the two ADVANCEs are two triggers, not a SecureChange retry.
func newWorkload(t *testing.T, t0 time.Time, n, firstID int, spread, gap time.Duration, seed uint64) *workload {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x7715))
	wl := &workload{t0: t0, byKey: map[string]*sentTrigger{}, gap: gap, parallel: 4}
	examples := map[string][]byte{}
	for _, f := range stepFile {
		examples[f] = repoFile(t, "examples/tickets/"+f+".xml")
	}
	slot := spread / time.Duration(n)
	for i := range n {
		id := strconv.Itoa(firstID + i)
		base := int64(1763884800000) + int64(i)*3_600_000
		tp := &ticketPlan{id: id, start: time.Duration(i)*slot + time.Duration(rng.Int64N(int64(slot)))}
		for s := range steps {
			upd := strconv.FormatInt(base+int64(s)*60_000, 10)
			x := fixFirst(idRE, examples[stepFile[s]], "<id>"+id+"</id>") // the ticket id is the first <id>
			x = updateRE.ReplaceAllLiteral(x, []byte("<updateDate>"+upd+"</updateDate>"))
			x = createRE.ReplaceAllLiteral(x, []byte("<createDate>"+strconv.FormatInt(base, 10)+"</createDate>"))
			st := &sentTrigger{ticket: id, step: s, update: upd, xml: x}
			tp.triggers = append(tp.triggers, st)
			wl.byKey[id+"/"+upd] = st
		}
		wl.tickets = append(wl.tickets, tp)
	}
	return wl
}

// fixFirst replaces only the first match of re in b.
func fixFirst(re *regexp.Regexp, b []byte, repl string) []byte {
	loc := re.FindIndex(b)
	if loc == nil {
		return b
	}
	return slices.Concat(b[:loc[0]], []byte(repl), b[loc[1]:])
}

// run sends every trigger and returns when all were sent (or ctx ended).
func (wl *workload) run(ctx context.Context, t *testing.T, runner securechangetest.Runner) {
	sem := make(chan struct{}, wl.parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for _, tp := range wl.tickets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s, st := range tp.triggers {
				due := start.Add(tp.start + time.Duration(s)*wl.gap)
				if d := time.Until(due); d > 0 { // pacing of the workload, not a wait for a result
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				sentAt := time.Now()
				res, err := runner.Run(ctx, steps[s], st.xml)
				<-sem
				st.mu.Lock()
				st.sentAt, st.doneAt, st.attempts = sentAt, time.Now(), len(res.Attempts)
				switch {
				case err != nil:
					st.err = err.Error()
				case !res.OK():
					st.err = fmt.Sprintf("mediator failed: %+v", res.Last())
				default:
					if m := storedRE.FindStringSubmatch(res.Last().Stdout); m != nil && m[2] == tp.id {
						st.triggerID = m[3]
					} else {
						st.err = fmt.Sprintf("mediator output %q names no stored trigger", res.Last().Stdout)
					}
				}
				e := st.err
				st.mu.Unlock()
				if e != "" {
					t.Errorf("ticket %s %s: %s", tp.id, st.label(), e)
					return // the rest of this ticket would be meaningless
				}
			}
		}()
	}
	wg.Wait()
}

// triggerIDs maps the id of every trigger stored so far to its plan.
func (wl *workload) triggerIDs() map[string]*sentTrigger {
	out := map[string]*sentTrigger{}
	for _, tp := range wl.tickets {
		for _, st := range tp.triggers {
			st.mu.Lock()
			if st.triggerID != "" {
				out[st.triggerID] = st
			}
			st.mu.Unlock()
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// The analysis: per ticket, what reached the ITSM server, in which order.

// killWindowSlack: an operation answered this long before a SIGKILL may not have been
// recorded yet, so its resend is still "an exact resend right after a kill -9".
const killWindowSlack = 5 * time.Second

// allowKillResendOfCreates: a create in flight when its replica is SIGKILLed was accepted
// by the server but never recorded by triggerflow; without a lookup (this config has
// none, on purpose) and without server-side idempotency, its redelivery necessarily
// makes a second record, whatever the fix. Such resends are counted and reported apart
// from the duplicates the SIGTERM restarts or anything else cause, which fail the test.
const allowKillResendOfCreates = true

type ticketReport struct {
	id           string
	applied      []itsmReq // requests the server applied, in arrival order
	problems     []string  // failures
	notes        []string  // tolerated, but reported
	creates      int
	killResends  int // exact resends after a SIGKILL (tolerated)
	dupCreates   int // extra creates not explained by a SIGKILL
	dupUpdates   int // extra updates not explained by a SIGKILL
	outOfOrder   bool
	overlap      bool
	lost         int
	dupAfterTerm int // duplicates whose first copy was in flight at a SIGTERM
}

type analysis struct {
	tickets map[string]*ticketReport
	order   []string // ticket ids
	stray   []itsmReq
}

func analyze(wl *workload, reqs []itsmReq, signals []signalEvent) *analysis {
	a := &analysis{tickets: map[string]*ticketReport{}}
	for _, tp := range wl.tickets {
		a.tickets[tp.id] = &ticketReport{id: tp.id}
		a.order = append(a.order, tp.id)
	}
	for _, r := range reqs {
		if !r.Applied {
			continue
		}
		tr, ok := a.tickets[r.Ticket]
		if !ok || wl.byKey[r.Ticket+"/"+r.Update] == nil {
			a.stray = append(a.stray, r)
			continue
		}
		tr.applied = append(tr.applied, r)
	}
	// Which requests were in flight (or just answered) on a replica when it was signalled.
	inTerm, inKill := map[int]bool{}, map[int]bool{}
	for _, ev := range signals {
		for _, r := range reqs {
			if r.Replica != ev.Replica || r.Start.After(ev.At) {
				continue
			}
			switch {
			case ev.Sig == syscall.SIGKILL && (r.End.IsZero() || !r.End.Before(ev.At.Add(-killWindowSlack))):
				inKill[r.Seq] = true
			case ev.Sig != syscall.SIGKILL && (r.End.IsZero() || r.End.After(ev.At)):
				inTerm[r.Seq] = true
			}
		}
	}
	for _, id := range a.order {
		tr := a.tickets[id]
		seen := map[int][]itsmReq{} // step → applied copies
		maxStep := -1
		var prev *itsmReq
		for i := range tr.applied {
			r := tr.applied[i]
			step := wl.byKey[r.Ticket+"/"+r.Update].step
			if r.RecordTicketDiff != "" {
				tr.problems = append(tr.problems, fmt.Sprintf("%s #%d updated the record of ticket %s", stepLabel[step], r.Seq, r.RecordTicketDiff))
			}
			if (step == 0) != (r.kind() == "create") {
				tr.problems = append(tr.problems, fmt.Sprintf("#%d: %s of %s", r.Seq, r.kind(), stepLabel[step]))
			}
			if copies := seen[step]; len(copies) > 0 {
				// The copy this one repeats: the latest earlier one, or one a SIGKILL cut.
				last, killed := copies[len(copies)-1], false
				for _, c := range copies {
					if inKill[c.Seq] && c.Key == r.Key {
						last, killed = c, true
					}
				}
				switch {
				case killed && (step > 0 || allowKillResendOfCreates):
					tr.killResends++
					tr.notes = append(tr.notes, fmt.Sprintf("%s #%d is an exact resend of #%d, which was in flight at a SIGKILL", stepLabel[step], r.Seq, last.Seq))
				case step == 0:
					tr.dupCreates++
					tr.problems = append(tr.problems, fmt.Sprintf("DUPLICATE CREATE #%d (record %s) after #%d (record %s)%s", r.Seq, short(r.SysID), last.Seq, short(last.SysID), termNote(inTerm[last.Seq])))
				default:
					tr.dupUpdates++
					tr.problems = append(tr.problems, fmt.Sprintf("DUPLICATE %s #%d after #%d%s", stepLabel[step], r.Seq, last.Seq, termNote(inTerm[last.Seq])))
				}
				if !killed && inTerm[last.Seq] {
					tr.dupAfterTerm++
				}
			}
			seen[step] = append(seen[step], r)
			if step < maxStep {
				tr.outOfOrder = true
				tr.problems = append(tr.problems, fmt.Sprintf("OUT OF ORDER: %s #%d arrived after %s", stepLabel[step], r.Seq, stepLabel[maxStep]))
			}
			if prev != nil && step != wl.byKey[prev.Ticket+"/"+prev.Update].step && (prev.End.IsZero() || r.Start.Before(prev.End)) {
				tr.overlap = true
				tr.problems = append(tr.problems, fmt.Sprintf("OVERLAP: %s #%d arrived while %s #%d was still being answered",
					stepLabel[step], r.Seq, stepLabel[wl.byKey[prev.Ticket+"/"+prev.Update].step], prev.Seq))
			}
			maxStep = max(maxStep, step)
			prev = &tr.applied[i]
		}
		tr.creates = len(seen[0])
		for s := range steps {
			if len(seen[s]) == 0 {
				tr.lost++
				tr.problems = append(tr.problems, fmt.Sprintf("LOST: %s never reached the server", stepLabel[s]))
			}
		}
	}
	return a
}

func termNote(afterTerm bool) string {
	if afterTerm {
		return ", whose first copy was cut off by a SIGTERM"
	}
	return ""
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// summary counts the problems over all tickets.
type summary struct {
	tickets, bad, outOfOrder, overlap, dupCreates, dupUpdates, killResends, lost, dupAfterTerm int
}

func (a *analysis) summary() summary {
	s := summary{tickets: len(a.order)}
	for _, id := range a.order {
		tr := a.tickets[id]
		if len(tr.problems) > 0 {
			s.bad++
		}
		if tr.outOfOrder {
			s.outOfOrder++
		}
		if tr.overlap {
			s.overlap++
		}
		s.dupCreates += tr.dupCreates
		s.dupUpdates += tr.dupUpdates
		s.killResends += tr.killResends
		s.lost += tr.lost
		s.dupAfterTerm += tr.dupAfterTerm
	}
	return s
}

func (s summary) String() string {
	return fmt.Sprintf("%d of %d tickets violated: %d out of order, %d with overlapping updates, %d duplicate creates, %d duplicate updates (%d of the duplicates after a SIGTERM), %d operations lost; %d exact resends after the SIGKILL (tolerated)",
		s.bad, s.tickets, s.outOfOrder, s.overlap, s.dupCreates, s.dupUpdates, s.dupAfterTerm, s.lost, s.killResends)
}

// assert fails t for every ticket with a problem, and logs the tolerated resends.
func (a *analysis) assert(t *testing.T) {
	t.Helper()
	for _, id := range a.order {
		tr := a.tickets[id]
		for _, n := range tr.notes {
			t.Logf("ticket %s: %s", id, n)
		}
		for _, p := range tr.problems {
			t.Errorf("ticket %s: %s", id, p)
		}
	}
	for _, r := range a.stray {
		t.Errorf("the ITSM server applied a request of no planned trigger: #%d %s %s ticket %q update %q", r.Seq, r.Method, r.Path, r.Ticket, r.Update)
	}
}

// timelines prints, for each ticket with a problem (at most max of them), everything
// that happened to it: the triggers sent and every request the ITSM server got for it.
func (a *analysis) timelines(t *testing.T, wl *workload, reqs []itsmReq, signals []signalEvent, max int) {
	t.Helper()
	at := func(x time.Time) string {
		if x.IsZero() {
			return "      -"
		}
		return fmt.Sprintf("%+7.3fs", x.Sub(wl.t0).Seconds())
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "per-ticket timelines (times from the test's start; #n = arrival order at the ITSM server):\n")
	for _, ev := range signals {
		fmt.Fprintf(&sb, "  %s %s to itsm-sync %s; in flight there: %v\n", at(ev.At), ev.name(), ev.Replica, ev.InFlight)
	}
	// The worst first: duplicates and losses, then order.
	ids := slices.Clone(a.order)
	score := func(tr *ticketReport) int {
		return 100*(tr.dupCreates+tr.lost+tr.dupUpdates) + 10*len(tr.problems) + tr.killResends
	}
	sort.SliceStable(ids, func(i, j int) bool { return score(a.tickets[ids[i]]) > score(a.tickets[ids[j]]) })
	shown := 0
	for _, id := range ids {
		tr := a.tickets[id]
		if len(tr.problems) == 0 {
			continue
		}
		if shown == max {
			fmt.Fprintf(&sb, "… and more tickets with problems (%s)\n", a.summary())
			break
		}
		shown++
		fmt.Fprintf(&sb, "ticket %s: %s\n", id, strings.Join(tr.problems, "; "))
		type line struct {
			at   time.Time
			text string
		}
		var lines []line
		for _, tp := range wl.tickets {
			if tp.id != id {
				continue
			}
			for _, st := range tp.triggers {
				st.mu.Lock()
				lines = append(lines, line{st.sentAt, fmt.Sprintf("  %s  sent     %-9s updateDate %s trigger %s (mediator: %d attempt(s), done %s) %s",
					at(st.sentAt), st.label(), st.update, short(st.triggerID), st.attempts, at(st.doneAt), st.err)})
				st.mu.Unlock()
			}
		}
		for _, r := range reqs {
			if r.Ticket != id {
				continue
			}
			label := r.kind()
			if st := wl.byKey[r.Ticket+"/"+r.Update]; st != nil {
				label = st.label()
			}
			outcome := strconv.Itoa(r.Status)
			switch {
			case r.Cut:
				outcome += " CUT OFF (client hung up)"
			case !r.Applied:
				outcome += " refused (" + r.Refusal + ")"
			}
			lines = append(lines, line{r.Start, fmt.Sprintf("  %s  itsm #%-4d %-9s %-5s from %s, answered %s: %s, record %s, op %s",
				at(r.Start), r.Seq, label, r.Method, r.Replica, at(r.End), outcome, short(r.SysID), short(r.Key))})
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
		var first, last time.Time
		for _, l := range lines {
			if !l.at.IsZero() && (first.IsZero() || l.at.Before(first)) {
				first = l.at
			}
			if l.at.After(last) {
				last = l.at
			}
		}
		for _, ev := range signals { // the signals while this ticket was going on
			if !ev.At.Before(first) && !ev.At.After(last) {
				lines = append(lines, line{ev.At, fmt.Sprintf("  %s  --- %s to itsm-sync %s ---", at(ev.At), ev.name(), ev.Replica)})
			}
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
		for _, l := range lines {
			sb.WriteString(l.text)
			sb.WriteByte('\n')
		}
	}
	t.Log(sb.String())
}

// signalReport logs, for each signal, what the replica had in flight at the ITSM server
// and what became of it; it returns how many of them a SIGTERM cut off.
func signalReport(t *testing.T, wl *workload, reqs []itsmReq, signals []signalEvent) (termCut int) {
	t.Helper()
	bySeq := map[int]itsmReq{}
	for _, r := range reqs {
		bySeq[r.Seq] = r
	}
	for i, ev := range signals {
		var parts []string
		cut, done := 0, 0
		for _, seq := range ev.InFlight {
			r := bySeq[seq]
			label := r.kind()
			if st := wl.byKey[r.Ticket+"/"+r.Update]; st != nil {
				label = st.label()
			}
			switch {
			case r.End.IsZero():
				parts = append(parts, fmt.Sprintf("%s of ticket %s still unanswered", label, r.Ticket))
			case r.Cut:
				cut++
				parts = append(parts, fmt.Sprintf("%s of ticket %s CUT OFF %s after the signal (it had run %s)", label, r.Ticket,
					r.End.Sub(ev.At).Round(time.Millisecond), ev.At.Sub(r.Start).Round(time.Millisecond)))
			default:
				done++
				parts = append(parts, fmt.Sprintf("%s of ticket %s completed %s after the signal", label, r.Ticket, r.End.Sub(ev.At).Round(time.Millisecond)))
			}
		}
		t.Logf("signal %d: %s to itsm-sync %s at %+.1fs; the process exited after %s; %d ITSM request(s) in flight: %d completed, %d cut off [%s]",
			i+1, ev.name(), ev.Replica, ev.At.Sub(wl.t0).Seconds(), ev.ExitAfter.Round(time.Millisecond), len(ev.InFlight), done, cut, strings.Join(parts, "; "))
		if ev.Sig != syscall.SIGKILL {
			termCut += cut
		}
	}
	return termCut
}

// reqStats counts the ITSM requests by outcome, for the log.
func reqStats(reqs []itsmReq) string {
	c := map[string]int{}
	for _, r := range reqs {
		switch {
		case r.Cut:
			c["cut off"]++
		case r.Applied:
			c[r.kind()]++
		default:
			c["refused "+r.Refusal]++
		}
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, c[k])
	}
	return fmt.Sprintf("%d requests (%s)", len(reqs), b.String())
}
