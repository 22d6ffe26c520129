package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestAllInOneAndREADME is the README's quickstart, run as a user would: `triggerflow all`
// on examples/triggerflow.yaml and `triggerflow demo-sink` (what `make run` starts; only
// the ports are moved so the test can run anywhere), the README's sample trigger through
// the bash mediator, the demo sink printing the post, and the README's `nats` lines
// verbatim. Then every other `nats` line of the README runs through the same CLI, with no
// terminal attached: each must work (or find nothing, for data this pipeline has none of),
// never fail on its syntax or for want of a terminal.
func TestAllInOneAndREADME(t *testing.T) {
	natsPort := natstest.FreePort(t)
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	addr, sinkAddr := freeAddr(t), freeAddr(t)
	sink := startDemoSink(t, sinkAddr)

	cfg := string(repoFile(t, "examples/triggerflow.yaml"))
	for old, repl := range map[string]string{
		"listen: 127.0.0.1:8000":          "listen: " + addr,
		"port: 4222":                      "port: " + strconv.Itoa(natsPort),
		"store_dir: .triggerflow/nats":    "store_dir: " + filepath.Join(t.TempDir(), "nats"),
		"base_url: http://127.0.0.1:9999": "base_url: http://" + sinkAddr,
		`listen: ":9090"`:                 `listen: "` + freeAddr(t) + `"`,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("examples/triggerflow.yaml no longer has %q", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	startTriggerflow(t, "all", cfg, addr, "TRIGGERFLOW_MEDIATOR_PASSWORD=triggerflow-dev")

	readme := string(repoFile(t, "README.md"))
	// make run's own lines: what the Makefile starts is what this test starts.
	mk := string(repoFile(t, "Makefile"))
	for _, want := range []string{"triggerflow demo-sink --listen 127.0.0.1:9999", "triggerflow all --config $(CONFIG)", "TRIGGERFLOW_MEDIATOR_PASSWORD=$(DEV_PASSWORD)"} {
		if !strings.Contains(mk, want) {
			t.Fatalf("make run no longer runs %q", want)
		}
	}

	send := strings.ReplaceAll(readmeCommand(t, readme, "deploy/mediator/triggerflow-mediator.sh"), "127.0.0.1:8000", addr)
	out := shell(t, send)
	m := regexp.MustCompile(`stored CREATE for ticket 1001 as trigger ([0-9a-f]{32})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("README sample trigger: %s", out)
	}
	triggerID := m[1]

	// The demo sink prints the post, as the README shows it.
	shown := readmeCommand(t, readme, "demo-sink: POST /triggers Idempotency-Key=")
	prefix := shown[:strings.Index(shown, "<operation id>")]
	var post string
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		for _, l := range strings.Split(sink.output(), "\n") {
			if strings.HasPrefix(l, prefix) {
				post = l
				return nil
			}
		}
		return fmt.Errorf("the demo sink printed no post yet:\n%s", sink.output())
	})
	opID := strings.Fields(strings.TrimPrefix(post, prefix))[0]
	wantPost := strings.NewReplacer("<operation id>", opID, "<id>", triggerID).Replace(shown)
	if post != wantPost {
		t.Fatalf("the demo sink printed\n%s\nthe README shows\n%s", post, wantPost)
	}

	// The quickstart's nats lines, verbatim but for the port.
	views := readmeCommands(t, readme, natsCLI)
	if len(views) != 3 {
		t.Fatalf("the quickstart has %d nats lines, want 3 (trigger, plan, result): %q", len(views), views)
	}
	wants := [][]string{
		{events.TriggerEvent{Event: events.Create, Ticket: events.TicketInfo{ID: "1001"}}.StoredSubject(), `"event":"CREATE"`, `"id":"1001"`, "Scw-Trigger-Id"},
		{`"status":"planned"`, `"routes":["ticket-created"]`, `"target":"webhook"`},
		{`"status":"succeeded"`, `"operation_id":"` + opID + `"`},
	}
	for i, v := range views {
		v = strings.ReplaceAll(v, "nats://127.0.0.1:4222", natsURL)
		natstest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
			out, err := repoShell(v)
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", v, err, out)
			}
			for _, want := range wants[i] {
				if !bytes.Contains(out, []byte(want)) {
					return fmt.Errorf("%s: output lacks %q:\n%s", v, want, out)
				}
			}
			return nil
		})
	}

	// Every other nats line of the README, through the same CLI and server.
	ran := 0
	for _, l := range readmeCommands(t, readme, "nats ") {
		if !strings.HasPrefix(l, "nats ") || strings.Contains(l, "| nats pub") {
			continue // the quickstart's (above); the redrive pipes run verbatim from alerts in TestFailureAlertRedrive
		}
		cmd := natsCLI + " --server " + natsURL + strings.TrimPrefix(l, "nats")
		cmd = strings.ReplaceAll(cmd, "<operation id>", opID)
		out, err := repoShell(cmd)
		ran++
		switch {
		case err == nil:
		case bytes.Contains(out, []byte("key not found")) || bytes.Contains(out, []byte("no message found")):
			// this pipeline has none of that data (a ServiceNow record, a parked lane)
		default:
			t.Errorf("README line %q: %v\n%s", l, err, out)
		}
		if bytes.Contains(out, []byte("terminal")) {
			t.Errorf("README line %q needs a terminal:\n%s", l, out)
		}
		if strings.Contains(l, "stream view") {
			t.Errorf("README line %q pages interactively (stream view): it fails without a terminal", l)
		}
	}
	if ran < 8 {
		t.Fatalf("ran %d README nats lines, want the 8 or more of the README", ran)
	}
	t.Logf("ran the quickstart and %d other README nats lines", ran)
}

// startDemoSink runs `triggerflow demo-sink --listen addr`, as `make run` does, through
// startProc (so a race report in its log fails the test), until it says it listens.
func startDemoSink(t *testing.T, addr string) *proc {
	t.Helper()
	p := startProc(t, "demo-sink", triggerflowBinary(t), []string{"demo-sink", "--listen", addr}, nil, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("demo sink not listening: %w", err)
		}
		return c.Close()
	})
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if want := "demo-sink: listening on http://" + addr; !strings.Contains(p.output(), want) {
			return fmt.Errorf("the demo sink listens but has not said %q: %q", want, p.output())
		}
		return nil
	})
	return p
}

// readmeCommand returns the README line (in a shell block) that contains marker.
func readmeCommand(t *testing.T, readme, marker string) string {
	t.Helper()
	if ls := readmeCommands(t, readme, marker); len(ls) > 0 {
		return ls[0]
	}
	t.Fatalf("README has no command with %q", marker)
	return ""
}

// readmeCommands returns the lines of the README's code blocks that contain marker.
func readmeCommands(t *testing.T, readme, marker string) []string {
	t.Helper()
	var out []string
	in, recipe := false, false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "```") {
			in, recipe = !in, !in && strings.Contains(l, "recipe=")
			continue
		}
		if in && !recipe && strings.Contains(l, marker) && !strings.HasPrefix(l, "#") { // recipes run whole (TestNATSRecipes)
			out = append(out, l)
		}
	}
	return out
}

// readmeRecipes returns the README's recipe blocks (fenced "```sh recipe=<name>"), whole,
// by name.
func readmeRecipes(t *testing.T, readme string) map[string]string {
	t.Helper()
	out := map[string]string{}
	name, body := "", []string(nil)
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch t := strings.TrimSpace(l); {
		case name == "" && strings.HasPrefix(t, "```") && strings.Contains(t, "recipe="):
			name = t[strings.Index(t, "recipe=")+len("recipe="):]
		case name != "" && strings.HasPrefix(t, "```"):
			out[name], name, body = strings.Join(body, "\n")+"\n", "", nil
		case name != "":
			body = append(body, l)
		}
	}
	return out
}

// repoShell runs a command line with bash at the repository's root, stdin empty and no
// terminal, as a script or CI would.
func repoShell(command string) ([]byte, error) {
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = filepath.Join("..", "..")
	return cmd.CombinedOutput()
}

func shell(t *testing.T, command string) string {
	t.Helper()
	out, err := repoShell(command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

// TestREADMEConfigCheck runs the README's `config check` lines verbatim, with no terminal:
// each prints ok and exits 0.
func TestREADMEConfigCheck(t *testing.T) {
	lines := readmeCommands(t, string(repoFile(t, "README.md")), "go run ./cmd/triggerflow config check")
	if len(lines) < 2 {
		t.Fatalf("the README has %d config check lines, want 2: %q", len(lines), lines)
	}
	for _, l := range lines {
		out := shell(t, l+" </dev/null")
		if !strings.Contains(out, ": ok") {
			t.Errorf("%s:\n%s", l, out)
		}
	}
}
