package main_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

const (
	e2eUser     = "mediator"
	e2ePassword = "e2e-secret-password"
	execScript  = "/opt/trigger-service/test.py"
)

// triggerflowBinary builds this command once per test process (natstest.BuildOnce), with
// the race detector when the tests run under it (make test-race).
func triggerflowBinary(tb testing.TB) string {
	tb.Helper()
	return natstest.BuildOnce(tb, "triggerflow", func() (string, error) {
		dir, err := natstest.BinDir("triggerflow-e2e-")
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "triggerflow")
		args := []string{"build", "-o", path}
		if raceBuild {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build: %v\n%s", err, out)
		}
		return path, nil
	})
}

// proc is a running triggerflow process.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// output is what the process has written so far, stdout and stderr.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// startTriggerflow runs `triggerflow <command> --config <yaml>` and waits for /readyz.
func startTriggerflow(t *testing.T, command, yaml string, httpAddr string, env ...string) *proc {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "triggerflow.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startTriggerflowArgs(t, []string{command, "--config", cfgPath}, httpAddr, env...)
}

// readyClient polls /readyz: a port that answers nothing (taken by another process)
// fails the probe instead of hanging the test.
var readyClient = &http.Client{Timeout: 5 * time.Second}

// startTriggerflowArgs runs `triggerflow <args>` and waits for /readyz on httpAddr.
func startTriggerflowArgs(t *testing.T, args []string, httpAddr string, env ...string) *proc {
	t.Helper()
	return startProc(t, "triggerflow "+args[0], triggerflowBinary(t), args, env, func() error {
		res, err := readyClient.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
}

// startProc starts bin with args and env (added to this process's; output to a log file,
// shown if the test fails), stopped with SIGINT (SIGKILL after 30 s) at cleanup, and
// waits until ready returns nil; a process that exits first fails the test with its log.
func startProc(tb testing.TB, name, bin string, args, env []string, ready func() error) *proc {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), "process.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		b, _ := os.ReadFile(logPath)
		switch {
		case bytes.Contains(b, []byte(raceReport)):
			tb.Errorf("%s: the race detector found a data race; its log:\n%s", name, b)
		case tb.Failed():
			tb.Logf("%s log:\n%s", name, b)
		}
	})
	natstest.CheckFor(tb, 90*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(logPath)
			tb.Fatalf("%s exited at start:\n%s", name, b)
		default:
		}
		return ready()
	})
	return p
}

// raceReport starts each report of a process built with the race detector. startProc
// looks for it because its processes are stopped with signals; a one-shot command (cli,
// trace, config check) that found a race exits with the race detector's status 66, which
// fails the tests that check its exit.
const raceReport = "WARNING: DATA RACE"

func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(natstest.FreePort(t))
}

func passwordFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mediator-password")
	if err := os.WriteFile(p, []byte(e2ePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ingressYAML(natsURL, listen, pwFile string) string {
	return fmt.Sprintf(`nats:
  url: %q
ingress:
  listen: %q
  publish_timeout: 3s
  users:
    - name: %s
      password_file: %q
`, natsURL, listen, e2eUser, pwFile)
}

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refTicket is an independent reading of the example XML (encoding/xml into a struct),
// to check the stored events against.
type refTicket struct {
	ID         string `xml:"id"`
	Subject    string `xml:"subject"`
	CreateDate string `xml:"createDate"`
	UpdateDate string `xml:"updateDate"`
	Current    *struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"current_stage"`
	Completion *struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"completion_data>stage"`
	OpenRequest *struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"open_request_stage"`
}

func stageEq(got *events.Stage, id, name string, present bool) bool {
	if !present {
		return got == nil
	}
	return got != nil && got.ID == id && got.Name == name
}

// seedMediator installs the seed mediator with HOST=addr and ENDPOINT=endpoint (its other
// settings the test user's), and returns a runner that runs it with args the way SecureChange
// does, with `python` on PATH.
func seedMediator(t *testing.T, addr, endpoint string, args ...string) securechangetest.Runner {
	t.Helper()
	script, err := securechangetest.InstallMediator(t.TempDir(), securechangetest.MediatorSettings{
		Host: addr, Endpoint: endpoint, Username: e2eUser, Password: e2ePassword, ExecScript: execScript,
	})
	if err != nil {
		t.Fatal(err)
	}
	shim, err := securechangetest.PythonShim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return securechangetest.Runner{
		Script: script,
		Args:   args,
		Env:    []string{"PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH")},
	}
}

// TestSeedMediatorEveryTrigger runs the seed mediator (unchanged but for its five
// settings) the way SecureChange does, for every trigger name, against the ingress binary
// on a real nats-server process, then reads the stream and checks each stored event.
func TestSeedMediatorEveryTrigger(t *testing.T) {
	nsrv := natstest.StartProcess(t)
	addr := freeAddr(t)
	startTriggerflow(t, "ingress", ingressYAML(nsrv.URL(), addr, passwordFile(t)), addr)

	runner := seedMediator(t, addr, "trigger_file", "first-arg-dropped-by-mediator", "--env", "prod", `C:\temp\new`)
	ctx := context.Background()

	type sent struct {
		trig events.Trigger
		xml  []byte
		ref  refTicket
		id   string
	}
	var all []sent
	for _, trig := range events.Triggers() {
		x := repoFile(t, "examples/tickets/"+trig.Token()+".xml")
		var ref refTicket
		if err := xml.Unmarshal(x, &ref); err != nil {
			t.Fatalf("%s example: %v", trig, err)
		}
		res, err := runner.Run(ctx, string(trig), x)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || len(res.Attempts) != 1 {
			t.Fatalf("%s: attempts %+v", trig, res.Attempts)
		}
		out := res.Last().Stdout
		prefix := fmt.Sprintf("triggerflow: stored %s for ticket %s as trigger ", trig, ref.ID)
		if !strings.HasPrefix(out, prefix) {
			t.Fatalf("%s: stdout %q does not name the stored event", trig, out)
		}
		all = append(all, sent{trig, x, ref, strings.TrimSpace(strings.TrimPrefix(out, prefix))})
	}

	// SecureChange's Test button: empty stdin, answered, nothing stored.
	res, err := runner.Run(ctx, "TEST", nil)
	if err != nil || !res.OK() || !strings.Contains(res.Last().Stdout, "TEST") {
		t.Fatalf("TEST: %+v %v", res, err)
	}

	js := natstest.JetStream(t, nsrv.URL())
	stream, err := js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(all)) {
		t.Fatalf("%d stored, want %d", info.State.Msgs, len(all))
	}
	for i, s := range all {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, m, s.trig, s.ref, s.xml, s.id)
	}

	// Rejected input: the mediator shows why and exits non-zero, every attempt.
	res, err = runner.Run(ctx, "EXPLODE", all[0].xml)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || len(res.Attempts) != 5 || res.Last().ExitCode != 65 || !strings.Contains(res.Last().Stderr, `unknown trigger "EXPLODE"`) {
		t.Fatalf("rejected trigger: %+v", res.Attempts)
	}

	// Broker down: non-zero exit, so SecureChange retries; back up: stored.
	nsrv.Stop()
	down := runner
	down.MaxAttempts = 1
	res, err = down.Run(ctx, "ADVANCE", repoFile(t, "examples/tickets/advance.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.Last().ExitCode == 0 {
		t.Fatalf("broker down but the mediator exited 0: %+v", res.Last())
	}
	nsrv.Start()
	fresh := []byte(strings.Replace(string(repoFile(t, "examples/tickets/advance.xml")), "<updateDate>", "<updateDate>9", 1))
	natstest.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		res, err := down.Run(ctx, "ADVANCE", fresh)
		if err != nil {
			return err
		}
		if !res.OK() {
			return fmt.Errorf("after restart: %+v", res.Last())
		}
		return nil
	})
	if n := natstest.StreamMsgs(t, js, events.StreamTriggers); n != uint64(len(all)+1) {
		t.Fatalf("%d stored after restart, want %d", n, len(all)+1)
	}
}

func checkStored(t *testing.T, m *jetstream.RawStreamMsg, trig events.Trigger, ref refTicket, raw []byte, answeredID string) {
	t.Helper()
	ev, err := events.UnmarshalTriggerEvent(m.Data)
	if err != nil {
		t.Fatalf("%s: %v", trig, err)
	}
	tk := ev.Ticket
	checks := []struct {
		what string
		ok   bool
	}{
		{"id answered", ev.ID == answeredID && len(ev.ID) == 32},
		{"Nats-Msg-Id", m.Header.Get("Nats-Msg-Id") == ev.ID},
		{"Scw-Trigger-Id", m.Header.Get(events.HdrTriggerID) == ev.ID},
		{"Scw-Correlation-Id", m.Header.Get(events.HdrCorrelationID) == ev.ID},
		{"Scw-Ticket-Id", m.Header.Get(events.HdrTicketID) == ref.ID},
		{"Scw-Event", m.Header.Get(events.HdrEvent) == string(trig)},
		{"subject (the ticket's lane)", m.Subject == fmt.Sprintf(events.SubjTriggerStoredT, trig.Token(), events.Partition(ref.ID), ref.ID)},
		{"event", ev.Event == trig},
		{"ticket id", tk.ID == ref.ID},
		{"subject line", tk.Subject == ref.Subject},
		{"createDate", tk.CreateDate == ref.CreateDate},
		{"updateDate", tk.UpdateDate == ref.UpdateDate},
		{"created_at", tk.CreatedAt != nil && strconv.FormatInt(tk.CreatedAt.UnixMilli(), 10) == ref.CreateDate},
		{"updated_at", tk.UpdatedAt != nil && strconv.FormatInt(tk.UpdatedAt.UnixMilli(), 10) == ref.UpdateDate},
		{"current stage", ref.Current == nil && tk.CurrentStage == nil || ref.Current != nil && stageEq(tk.CurrentStage, ref.Current.ID, ref.Current.Name, true)},
		{"completion stage", ref.Completion == nil && tk.CompletionStage == nil || ref.Completion != nil && stageEq(tk.CompletionStage, ref.Completion.ID, ref.Completion.Name, true)},
		{"open request stage", ref.OpenRequest == nil && tk.OpenRequestStage == nil || ref.OpenRequest != nil && stageEq(tk.OpenRequestStage, ref.OpenRequest.ID, ref.OpenRequest.Name, true)},
		{"raw xml", ev.RawXML == string(raw)},
		{"args (argv[2..], literal)", ev.Args == `--env prod C:\temp\new`},
		{"script", ev.Script == execScript},
		{"received_at", time.Since(ev.ReceivedAt) < time.Hour},
		{"ingress instance", ev.Ingress != ""},
		{"recovered (args hold a backslash the seed did not escape)", ev.Recovered},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: stored %s wrong: %s", trig, c.what, m.Data)
		}
	}
}

// TestBashMediator runs deploy/mediator/triggerflow-mediator.sh (bash + curl only) the way
// SecureChange does, against the ingress binary.
func TestBashMediator(t *testing.T) {
	nsrv := natstest.StartProcess(t)
	addr := freeAddr(t)
	pw := passwordFile(t)
	startTriggerflow(t, "ingress", ingressYAML(nsrv.URL(), addr, pw), addr)
	runner := securechangetest.Runner{
		Script: filepath.Join("..", "..", "deploy", "mediator", "triggerflow-mediator.sh"),
		Args:   []string{"dropped", `say "hi"`, `C:\temp`, "a&b=c"},
		Env: []string{
			"TRIGGERFLOW_URL=http://" + addr, "TRIGGERFLOW_USER=" + e2eUser, "TRIGGERFLOW_PASSWORD_FILE=" + pw,
		},
	}
	x := repoFile(t, "examples/tickets/reject.xml")
	res, err := runner.Run(context.Background(), "REJECT", x)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || !strings.Contains(res.Last().Stdout, "stored REJECT for ticket") {
		t.Fatalf("%+v", res.Attempts)
	}
	js := natstest.JetStream(t, nsrv.URL())
	m, err := mustStream(t, js).GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := events.UnmarshalTriggerEvent(m.Data)
	if ev.Args != `say "hi" C:\temp a&b=c` || ev.RawXML != string(x) || ev.Event != events.Reject {
		t.Fatalf("stored %+v", ev)
	}
	res, err = runner.Run(context.Background(), "EXPLODE", x)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || !strings.Contains(res.Last().Stderr, "unknown trigger") {
		t.Fatalf("rejected: %+v", res.Last())
	}
}

func mustStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(context.Background(), events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// errorsTB records Errorf instead of failing: TestProcRaceReport looks at what startProc
// reports at cleanup.
type errorsTB struct {
	testing.TB
	errs []string
}

func (r *errorsTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestProcRaceReport: a process started with startProc that reported a data race (as a
// triggerflow built with -race writes it, under make test-race) fails its test at
// cleanup, with the process's log; one that did not passes.
func TestProcRaceReport(t *testing.T) {
	t.Parallel()
	run := func(name, line string) []string {
		rec := &errorsTB{}
		t.Run(name, func(t *testing.T) {
			rec.TB = t
			written := filepath.Join(t.TempDir(), "written")
			startProc(rec, "racy", "sh", []string{"-c", `echo "$1"; : > "$2"; exec sleep 600`, "sh", line, written}, nil, func() error {
				_, err := os.Stat(written)
				return err
			})
		})
		return rec.errs
	}
	errs := run("race", raceReport)
	if len(errs) != 1 || !strings.Contains(errs[0], "racy: the race detector found a data race") || !strings.Contains(errs[0], raceReport) {
		t.Errorf("a process that reported a race: %q", errs)
	}
	if errs := run("quiet", "started"); len(errs) != 0 {
		t.Errorf("a process that reported nothing: %q", errs)
	}
}
