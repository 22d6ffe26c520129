package mediator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// The seed mediator as a SecureChange admin installs it, run the way SecureChange runs it,
// against a stand-in ingress.

const (
	seedUser     = "scw-mediator"
	seedPassword = `s3cr3t pa$$ "w0rd"`
	seedScript   = "/opt/trigger-service/test.py"
)

// seedRunner installs the seed mediator pointed at f and returns a Runner for it.
func seedRunner(t *testing.T, f *fakeIngress, args ...string) securechangetest.Runner {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	shim, err := securechangetest.PythonShim(bin)
	if err != nil {
		t.Fatal(err)
	}
	script, err := securechangetest.InstallMediator(dir, securechangetest.MediatorSettings{
		Host:       f.hostPort(), // no scheme, like the seed's 10.244.0.1:8000
		Endpoint:   "trigger_file",
		Username:   seedUser,
		Password:   seedPassword,
		ExecScript: seedScript,
	})
	if err != nil {
		t.Fatal(err)
	}
	return securechangetest.Runner{
		Script: script,
		Args:   args,
		Env:    []string{"PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH")},
	}
}

// seedPayload is the JSON the seed mediator means to send.
type seedPayload struct {
	TicketInfo string `json:"ticket_info"`
	Event      string `json:"event"`
	Args       string `json:"args"`
	Script     string `json:"script"`
}

func decodeSeedPayload(t *testing.T, body []byte) seedPayload {
	t.Helper()
	var p seedPayload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("seed body is not JSON: %v\n%s", err, body)
	}
	return p
}

func exampleTicket(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "tickets", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSeedMediatorStored(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, seedUser, seedPassword, always(200, `{"output":"stored"}`))
	ticket := exampleTicket(t, "advance.xml")
	r := seedRunner(t, f, "Mediator", "--notify", "ops")
	res, err := r.Run(context.Background(), "ADVANCE", ticket)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 1 || !res.OK() {
		t.Fatalf("attempts = %+v, want one exiting 0", res.Attempts)
	}
	if a := res.Last(); a.Stdout != "stored" || a.Stderr != "" {
		t.Errorf("stdout = %q, stderr = %q; want %q and nothing", a.Stdout, a.Stderr, "stored")
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Method != "POST" || req.Path != "/trigger_file" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s (%s), want POST /trigger_file (application/json)", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	if req.User != seedUser || req.Password != seedPassword {
		t.Errorf("basic auth = %q:%q", req.User, req.Password)
	}
	p := decodeSeedPayload(t, req.Body)
	xml, err := base64.StdEncoding.DecodeString(p.TicketInfo)
	if err != nil {
		t.Fatalf("ticket_info is not base64: %v", err)
	}
	if string(xml) != string(ticket) {
		t.Errorf("ticket_info decodes to %q, want %q", xml, ticket)
	}
	want := seedPayload{TicketInfo: p.TicketInfo, Event: "ADVANCE", Args: "--notify ops", Script: seedScript}
	if p != want {
		t.Errorf("payload = %+v, want %+v (the first argument is dropped)", p, want)
	}
	if !strings.Contains(string(req.Body), "\n") {
		t.Errorf("body has no newlines between fields: %q", req.Body)
	}
}

func TestSeedMediatorErrorReturnCode(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, seedUser, seedPassword, always(200, `{"error":{"output":"bad","returnCode":65}}`))
	res, err := seedRunner(t, f).Run(context.Background(), "CREATE", exampleTicket(t, "create.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 5 {
		t.Fatalf("attempts = %d, want 5", len(res.Attempts))
	}
	for i, a := range res.Attempts {
		if a.ExitCode != 65 || !strings.Contains(a.Stderr, "bad") || a.Stdout != "" {
			t.Errorf("attempt %d = exit %d, stdout %q, stderr %q; want exit 65, stderr with \"bad\"", i+1, a.ExitCode, a.Stdout, a.Stderr)
		}
	}
	if n := len(f.requests()); n != 5 {
		t.Errorf("requests = %d, want 5", n)
	}
}

func TestSeedMediatorHTTPErrorHidesTheBody(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, seedUser, seedPassword, always(503, `{"error":{"output":"jetstream unavailable","returnCode":75}}`))
	res, err := seedRunner(t, f).Run(context.Background(), "CLOSE", exampleTicket(t, "close.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 5 {
		t.Fatalf("attempts = %d, want 5", len(res.Attempts))
	}
	for i, a := range res.Attempts {
		if a.ExitCode != 22 || !strings.Contains(a.Stderr, "503") {
			t.Errorf("attempt %d = exit %d, stderr %q; want 22 and curl's 503 message", i+1, a.ExitCode, a.Stderr)
		}
		if strings.Contains(a.Stderr, "jetstream unavailable") {
			t.Errorf("attempt %d: curl --fail showed the response body: %q", i+1, a.Stderr)
		}
	}
}

func TestSeedMediatorRetriesUntilStored(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, seedUser, seedPassword, func(n int) reply {
		if n <= 2 {
			return reply{503, `{"error":{"output":"not ready","returnCode":75}}`}
		}
		return reply{200, `{"output":"stored"}`}
	})
	res, err := seedRunner(t, f, "x").Run(context.Background(), "REJECT", exampleTicket(t, "reject.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 3 || !res.OK() || res.Attempts[0].ExitCode != 22 || res.Attempts[1].ExitCode != 22 {
		t.Fatalf("attempts = %+v, want 22, 22, 0", res.Attempts)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if string(r.Body) != string(reqs[0].Body) {
			t.Errorf("retry sent a different body:\n%s\nvs\n%s", r.Body, reqs[0].Body)
		}
	}
}

// TestSeedMediatorQuirks pins down seed behaviour the ingress has to live with.
func TestSeedMediatorQuirks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		event    string
		args     []string
		ticket   []byte
		answer   reply
		password string // "" means the right one
		check    func(t *testing.T, res securechangetest.Result, reqs []received)
	}{
		{
			name:   "Test button: empty stdin still posts",
			event:  "TEST",
			answer: reply{200, `{"output":"test ok"}`},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				p := decodeSeedPayload(t, reqs[0].Body)
				if p.TicketInfo != "" || p.Event != "TEST" || !res.OK() || res.Last().Stdout != "test ok" {
					t.Errorf("payload %+v, result %+v", p, res.Last())
				}
			},
		},
		{
			name:   "empty 2xx body crashes the python step",
			event:  "CREATE",
			ticket: []byte("<ticket_info/>"),
			answer: reply{200, ""},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				if len(res.Attempts) != 5 || res.Last().ExitCode != 1 || !strings.Contains(res.Last().Stderr, "TypeError") {
					t.Errorf("attempts %d, last %+v; want 5 attempts ending in a TypeError, exit 1", len(res.Attempts), res.Last())
				}
			},
		},
		{
			name:   "non-JSON 2xx body crashes the python step",
			event:  "CREATE",
			ticket: []byte("<ticket_info/>"),
			answer: reply{200, "<html>proxy login</html>"},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				if res.Last().ExitCode != 1 || !strings.Contains(res.Last().Stderr, "JSONDecodeError") {
					t.Errorf("last attempt %+v; want exit 1 with a JSONDecodeError", res.Last())
				}
			},
		},
		{
			name:   "returnCode 256 exits 0",
			event:  "CREATE",
			ticket: []byte("<ticket_info/>"),
			answer: reply{200, `{"output":"partly","error":{"output":"refused","returnCode":256}}`},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				a := res.Last()
				if len(res.Attempts) != 1 || a.ExitCode != 0 || a.Stdout != "partly" || a.Stderr != "refused" {
					t.Errorf("attempts %+v; want one that exits 0 yet prints the error", res.Attempts)
				}
			},
		},
		{
			name:   "args are word-split, re-joined by single spaces and pasted into the JSON unescaped",
			event:  "ADVANCE",
			args:   []string{"dropped", "two  spaces", `say "hi"`, `back\slash`},
			ticket: []byte("<ticket_info/>"),
			answer: reply{200, `{"output":"stored"}`},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				body := string(reqs[0].Body)
				if want := `"args":"two spaces say "hi" back\slash",`; !strings.Contains(body, want) {
					t.Errorf("body %q does not contain %q", body, want)
				}
				if json.Valid(reqs[0].Body) {
					t.Errorf("body is valid JSON, expected the unescaped quote to break it: %s", body)
				}
				for _, field := range []string{`"ticket_info":"`, `"event":"ADVANCE"`, `"script":"` + seedScript + `"`} {
					if !strings.Contains(body, field) {
						t.Errorf("body %q lacks %s", body, field)
					}
				}
			},
		},
		{
			name:   "a first argument with a space loses only its first word",
			event:  "ADVANCE",
			args:   []string{"Mediator Test", "ops"},
			ticket: []byte("<ticket_info/>"),
			answer: reply{200, `{"output":"stored"}`},
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				if p := decodeSeedPayload(t, reqs[0].Body); p.Args != "Test ops" {
					t.Errorf("args = %q, want %q", p.Args, "Test ops")
				}
			},
		},
		{
			name:     "wrong password exits 22 like any HTTP error",
			event:    "CREATE",
			ticket:   []byte("<ticket_info/>"),
			password: "wrong",
			check: func(t *testing.T, res securechangetest.Result, reqs []received) {
				if res.Last().ExitCode != 22 || !strings.Contains(res.Last().Stderr, "401") {
					t.Errorf("last attempt %+v; want exit 22 and curl's 401 message", res.Last())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*fakeIngress)
			if tt.password != "" {
				opts = append(opts, acceptPassword(tt.password))
			}
			f := newFakeIngress(t, seedUser, seedPassword, always(tt.answer.status, tt.answer.body), opts...)
			res, err := seedRunner(t, f, tt.args...).Run(context.Background(), tt.event, tt.ticket)
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) == 0 {
				t.Fatalf("no request reached the server; last attempt %+v", res.Last())
			}
			tt.check(t, res, reqs)
		})
	}
}

// TestSeedMediatorCurlScrubsThePassword documents how the seed's credentials meet ps: the seed
// runs curl -u user:password; curl blanks that argument once it has parsed it, so ps shows it
// only in the short window between exec and curl's option parsing.
func TestSeedMediatorCurlScrubsThePassword(t *testing.T) {
	t.Parallel()
	requireProcfs(t)
	f := newFakeIngress(t, seedUser, seedPassword, always(200, `{"output":"stored"}`), scanProcs)
	res, err := seedRunner(t, f).Run(context.Background(), "CREATE", []byte("<ticket_info/>"))
	if err != nil || !res.OK() {
		t.Fatalf("run: %v %+v", err, res.Last())
	}
	var curl []string
	for _, c := range f.requests()[0].Cmdlines {
		if strings.HasPrefix(c, "curl ") {
			curl = append(curl, c)
		}
	}
	if len(curl) != 1 {
		t.Fatalf("want the seed's curl among the processes, found command lines %q", f.requests()[0].Cmdlines)
	}
	if strings.Contains(curl[0], seedPassword) || !strings.Contains(curl[0], " -u   ") {
		t.Errorf("curl command line %q: want -u followed by a blanked argument", curl[0])
	}
}
