package mediator_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// triggerflow-mediator.sh run the way SecureChange runs it, against a stand-in ingress.

const (
	tfUser     = "securechange"
	tfPassword = `pa ss:"w0rd" \ $HOME 'x'`
)

func mediatorScript(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("triggerflow-mediator.sh") // the Runner execs it: an absolute path
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s is not executable (mode %v)", path, info.Mode())
	}
	return path
}

// mediatorRunner returns a Runner for the triggerflow mediator pointed at url, with extra
// KEY=VALUE settings (a later key wins).
func mediatorRunner(t *testing.T, url string, args []string, env ...string) securechangetest.Runner {
	t.Helper()
	return securechangetest.Runner{
		Script: mediatorScript(t),
		Args:   args,
		Env: append([]string{
			"TRIGGERFLOW_URL=" + url,
			"TRIGGERFLOW_USER=" + tfUser,
			"TRIGGERFLOW_PASSWORD=" + tfPassword,
			"TRIGGERFLOW_TIMEOUT=20",
			"TMPDIR=" + t.TempDir(),
		}, env...),
	}
}

func TestMediatorScriptSendsTicketAndArgsExactly(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
	ticket := append(exampleTicket(t, "advance.xml"), "<!-- ünïcødé ✓ -->\r\n\n\n"...)
	args := []string{
		"Mediator Test", // skipped, as the seed skips its first argument
		"a b", "x&y=z", `say "hi"`, `back\slash`, "ünïcødé ✓", "=", "", "+plus", "%41",
		"tab\there", "new\nline", "*", "-x", "semi;colon", "#hash", "?q", "/slash/",
	}
	res, err := mediatorRunner(t, f.URL, args).Run(context.Background(), "ADVANCE", ticket)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 1 || !res.OK() {
		t.Fatalf("attempts = %+v, want one exiting 0", res.Attempts)
	}
	if a := res.Last(); a.Stdout != "stored" || a.Stderr != "" {
		t.Errorf("stdout %q, stderr %q; want %q and nothing", a.Stdout, a.Stderr, "stored")
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Method != "POST" || req.Path != "/v1/triggers/ADVANCE" {
		t.Errorf("request = %s %s, want POST /v1/triggers/ADVANCE", req.Method, req.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type = %q, want application/xml", ct)
	}
	if string(req.Body) != string(ticket) {
		t.Errorf("body = %q, want the ticket byte for byte: %q", req.Body, ticket)
	}
	if !req.HasAuth || req.User != tfUser || req.Password != tfPassword {
		t.Errorf("basic auth = %v %q:%q, want %q:%q", req.HasAuth, req.User, req.Password, tfUser, tfPassword)
	}
	if got, want := req.Query["arg"], args[1:]; !slices.Equal(got, want) {
		t.Errorf("arg = %q, want %q", got, want)
	}
	if len(req.Query) != 1 {
		t.Errorf("query has keys other than arg: %q", req.RawQuery)
	}
}

func TestMediatorScriptSkipArgs(t *testing.T) {
	t.Parallel()
	args := []string{"one", "two words", "three"}
	tests := []struct {
		skip string
		want []string
	}{
		{"", []string{"two words", "three"}}, // default 1
		{"0", args},
		{"2", []string{"three"}},
		{"7", nil},
	}
	for _, tt := range tests {
		t.Run("skip="+tt.skip, func(t *testing.T) {
			t.Parallel()
			f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
			var env []string
			if tt.skip != "" {
				env = append(env, "TRIGGERFLOW_SKIP_ARGS="+tt.skip)
			}
			res, err := mediatorRunner(t, f.URL, args, env...).Run(context.Background(), "CREATE", nil)
			if err != nil || !res.OK() {
				t.Fatalf("run: %v %+v", err, res.Last())
			}
			req := f.requests()[0]
			if got := req.Query["arg"]; !slices.Equal(got, tt.want) {
				t.Errorf("arg = %q, want %q", got, tt.want)
			}
			if tt.want == nil && req.RawQuery != "" {
				t.Errorf("raw query = %q, want none", req.RawQuery)
			}
		})
	}
}

func TestMediatorScriptPasswordFile(t *testing.T) {
	t.Parallel()
	for _, content := range []string{tfPassword + "\n", tfPassword, tfPassword + "\r\n", tfPassword + "\nsecond line\n"} {
		f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
		file := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// The file wins over TRIGGERFLOW_PASSWORD.
		r := mediatorRunner(t, f.URL, nil, "TRIGGERFLOW_PASSWORD=wrong", "TRIGGERFLOW_PASSWORD_FILE="+file)
		res, err := r.Run(context.Background(), "CREATE", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || len(res.Attempts) != 1 {
			t.Errorf("password file %q: attempts %+v, want one exiting 0", content, res.Attempts)
		}
	}
}

// TestMediatorScriptKeepsThePasswordOffArgv checks, while the request is in flight, that no
// process shows the password, and that the script never passes credentials with -u/--user.
func TestMediatorScriptKeepsThePasswordOffArgv(t *testing.T) {
	t.Parallel()
	source, err := os.ReadFile(mediatorScript(t))
	if err != nil {
		t.Fatal(err)
	}
	userFlag := regexp.MustCompile(`(^|\s)(-u|--user)([ \t=]|$)`)
	for i, line := range strings.Split(string(source), "\n") {
		if strings.TrimSpace(line) == "set -u" {
			continue
		}
		if userFlag.MatchString(line) {
			t.Errorf("line %d passes credentials on the command line: %q", i+1, line)
		}
	}
	requireProcfs(t)
	f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`), scanProcs)
	res, err := mediatorRunner(t, f.URL, []string{"skipped", "arg"}).Run(context.Background(), "CREATE", nil)
	if err != nil || !res.OK() {
		t.Fatalf("run: %v %+v", err, res.Last())
	}
	cmdlines := f.requests()[0].Cmdlines
	sawCurl := false
	for _, c := range cmdlines {
		sawCurl = sawCurl || strings.HasPrefix(c, "curl ")
		if strings.Contains(c, tfPassword) || strings.Contains(c, "w0rd") {
			t.Errorf("a command line shows the password: %q", c)
		}
	}
	if !sawCurl {
		t.Errorf("curl was not among the processes that mention the server: %q", cmdlines)
	}
}

func TestMediatorScriptAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		event        string
		answer       reply
		wantAttempts int
		wantCode     int
		wantStdout   string
		wantStderr   []string // substrings
	}{
		{
			name: "stored", event: "CREATE",
			answer:       reply{200, `{"output":"stored"}`},
			wantAttempts: 1, wantCode: 0, wantStdout: "stored",
		},
		{
			name: "output with JSON escapes", event: "CREATE",
			answer:       reply{201, ` { "output" : "d\u00e9j\u00e0 \"vu\" \\ \/ \ud83d\ude00\ttab\nline 2" , "error" : null } `},
			wantAttempts: 1, wantCode: 0, wantStdout: "déjà \"vu\" \\ / 😀\ttab\nline 2",
		},
		{
			name: "output as Go's encoding/json escapes it", event: "CREATE",
			answer:       reply{200, mustJSON(map[string]string{"output": "<a & b> \u2028 \x01 \x7f ünï"})},
			wantAttempts: 1, wantCode: 0, wantStdout: "<a & b> \u2028 \x01 \x7f ünï",
		},
		{
			name: "error with returnCode 0 is success", event: "CREATE",
			answer:       reply{200, `{"output":"ok","error":{"output":"ignored","returnCode":0}}`},
			wantAttempts: 1, wantCode: 0, wantStdout: "ok",
		},
		{
			name: "2xx refusal with returnCode", event: "CREATE",
			answer:       reply{200, `{"error":{"output":"bad","returnCode":65}}`},
			wantAttempts: 5, wantCode: 65, wantStderr: []string{"bad"},
		},
		{
			name: "returnCode 256 still fails", event: "CREATE",
			answer:       reply{200, `{"error":{"output":"refused","returnCode":256}}`},
			wantAttempts: 5, wantCode: 1, wantStderr: []string{"refused"},
		},
		{
			name: "4xx names the problem", event: "FOO",
			answer:       reply{400, `{"error":{"output":"unknown event \"FOO\"","returnCode":65}}`},
			wantAttempts: 5, wantCode: 22, wantStderr: []string{`unknown event "FOO"`, "HTTP 400", "/v1/triggers/FOO"},
		},
		{
			name: "503 with a plain text body", event: "CLOSE",
			answer:       reply{503, "jetstream unavailable\n"},
			wantAttempts: 5, wantCode: 22, wantStderr: []string{"HTTP 503", "jetstream unavailable"},
		},
		{
			name: "404 with a FastAPI-style detail", event: "CLOSE",
			answer:       reply{404, `{"detail":"Not Found"}`},
			wantAttempts: 5, wantCode: 22, wantStderr: []string{"HTTP 404", "Not Found"},
		},
		{
			name: "redirect is not followed", event: "CLOSE",
			answer:       reply{302, ""},
			wantAttempts: 5, wantCode: 22, wantStderr: []string{"HTTP 302"},
		},
		{
			name: "empty 2xx body", event: "CREATE",
			answer:       reply{200, ""},
			wantAttempts: 5, wantCode: 1, wantStderr: []string{"unexpected body"},
		},
		{
			name: "non-JSON 2xx body", event: "CREATE",
			answer:       reply{200, "<html>proxy login</html>"},
			wantAttempts: 5, wantCode: 1, wantStderr: []string{"unexpected body", "proxy login"},
		},
		{
			name: "error as a plain string", event: "CREATE",
			answer:       reply{200, `{"error":"database is locked"}`},
			wantAttempts: 5, wantCode: 1, wantStderr: []string{"database is locked"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeIngress(t, tfUser, tfPassword, always(tt.answer.status, tt.answer.body))
			res, err := mediatorRunner(t, f.URL, nil).Run(context.Background(), tt.event, []byte("<ticket_info/>"))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Attempts) != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d; last %+v", len(res.Attempts), tt.wantAttempts, res.Last())
			}
			for i, a := range res.Attempts {
				if a.ExitCode != tt.wantCode || a.Stdout != tt.wantStdout {
					t.Errorf("attempt %d: exit %d, stdout %q; want %d, %q (stderr %q)", i+1, a.ExitCode, a.Stdout, tt.wantCode, tt.wantStdout, a.Stderr)
				}
				for _, s := range tt.wantStderr {
					if !strings.Contains(a.Stderr, s) {
						t.Errorf("attempt %d: stderr %q lacks %q", i+1, a.Stderr, s)
					}
				}
				if len(tt.wantStderr) == 0 && a.Stderr != "" {
					t.Errorf("attempt %d: stderr %q, want none", i+1, a.Stderr)
				}
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestMediatorScriptRetriesUntilStored(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, tfUser, tfPassword, func(n int) reply {
		if n <= 2 {
			return reply{503, `{"error":{"output":"not ready","returnCode":75}}`}
		}
		return reply{200, `{"output":"stored"}`}
	})
	ticket := exampleTicket(t, "redo.xml")
	res, err := mediatorRunner(t, f.URL, []string{"x", "y"}).Run(context.Background(), "REDO", ticket)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 3 || !res.OK() || res.Attempts[0].ExitCode != 22 || res.Attempts[1].ExitCode != 22 {
		t.Fatalf("attempts = %+v, want 22, 22, 0", res.Attempts)
	}
	for _, r := range f.requests() {
		if string(r.Body) != string(ticket) || r.RawQuery != "arg=y" {
			t.Errorf("request body %q query %q, want the ticket and arg=y on every attempt", r.Body, r.RawQuery)
		}
	}
}

func TestMediatorScriptTestButton(t *testing.T) {
	t.Parallel()
	for _, event := range []string{"TEST", ""} { // "": SCW_EVENT unset, as in a run by hand
		f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"triggerflow is reachable"}`))
		res, err := mediatorRunner(t, f.URL, []string{"Mediator"}).Run(context.Background(), event, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || res.Last().Stdout != "triggerflow is reachable" {
			t.Errorf("event %q: last attempt %+v", event, res.Last())
		}
		req := f.requests()[0]
		if req.Method != "POST" || req.Path != "/v1/triggers/TEST" || len(req.Body) != 0 || req.Header.Get("Content-Length") != "0" {
			t.Errorf("event %q: request %s %s body %q Content-Length %q; want an empty POST to /v1/triggers/TEST",
				event, req.Method, req.Path, req.Body, req.Header.Get("Content-Length"))
		}
	}
}

func TestMediatorScriptNetworkError(t *testing.T) {
	t.Parallel()
	// A server that hangs up on every connection: unlike a closed port, no parallel test can
	// start listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	url := "http://" + ln.Addr().String()
	r := mediatorRunner(t, url, nil)
	r.MaxAttempts = 2
	res, err := r.Run(context.Background(), "CREATE", []byte("<ticket_info/>"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 {
		t.Fatalf("attempts = %d, want 2", len(res.Attempts))
	}
	for i, a := range res.Attempts {
		// curl: (52) Empty reply from server, or (56) Recv failure: Connection reset by peer.
		if (a.ExitCode != 52 && a.ExitCode != 56) || !strings.Contains(a.Stderr, "curl: (") ||
			!strings.Contains(a.Stderr, url+"/v1/triggers/CREATE") {
			t.Errorf("attempt %d %+v; want curl's exit code and error naming the URL", i+1, a)
		}
	}
}

func TestMediatorScriptTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	r := mediatorRunner(t, srv.URL, nil, "TRIGGERFLOW_TIMEOUT=0.5")
	r.MaxAttempts = 1
	res, err := r.Run(context.Background(), "CREATE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Last(); a.ExitCode != 28 || !strings.Contains(a.Stderr, "curl: (28)") {
		t.Errorf("attempt %+v; want curl's timeout, exit 28", a)
	}
}

func TestMediatorScriptCACert(t *testing.T) {
	t.Parallel()
	f := newFakeIngressTLS(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	r := mediatorRunner(t, f.URL, nil, "TRIGGERFLOW_CACERT="+ca)
	res, err := r.Run(context.Background(), "CREATE", nil)
	if err != nil || !res.OK() || res.Last().Stdout != "stored" {
		t.Errorf("with the CA: %v %+v", err, res.Last())
	}

	// Without it, curl checks the test server's certificate against the system CAs and fails.
	r = mediatorRunner(t, f.URL, nil)
	r.MaxAttempts = 1
	res, err = r.Run(context.Background(), "CREATE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Last(); a.ExitCode != 60 || !strings.Contains(a.Stderr, "curl: (60)") {
		t.Errorf("without the CA: attempt %+v; want curl's certificate error, exit 60", a)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want only the one made with the CA", n)
	}
}

// TestMediatorScriptWithOldCurl runs the script with a curl that lacks --fail-with-body.
func TestMediatorScriptWithOldCurl(t *testing.T) {
	t.Parallel()
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" +
		"case \"$1\" in --help) echo ' -f, --fail          Fail silently (no output at all) on HTTP errors'; exit 0;; esac\n" +
		"for a in \"$@\"; do [ \"$a\" = --fail-with-body ] && { echo 'curl: option --fail-with-body: is unknown' >&2; exit 2; }; done\n" +
		"exec '" + realCurl + "' \"$@\"\n"
	if err := securechangetest.WriteExecutable(filepath.Join(bin, "curl"), []byte(wrapper)); err != nil {
		t.Fatal(err)
	}
	f := newFakeIngress(t, tfUser, tfPassword, func(n int) reply {
		if n == 1 {
			return reply{400, `{"error":{"output":"unknown event \"FOO\"","returnCode":65}}`}
		}
		return reply{200, `{"output":"stored"}`}
	})
	r := mediatorRunner(t, f.URL, nil, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	res, err := r.Run(context.Background(), "FOO", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || !res.OK() || res.Last().Stdout != "stored" {
		t.Fatalf("attempts %+v; want a failure, then stored", res.Attempts)
	}
	if a := res.Attempts[0]; a.ExitCode != 22 || !strings.Contains(a.Stderr, "HTTP 400") || !strings.Contains(a.Stderr, "does not show the response body") {
		t.Errorf("first attempt %+v; want exit 22, HTTP 400 and a note that the body is not shown", a)
	}
}

func TestMediatorScriptRejectsBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no user", []string{"TRIGGERFLOW_USER="}, "TRIGGERFLOW_USER is not set"},
		{"user with a colon", []string{"TRIGGERFLOW_USER=a:b"}, "colon"},
		{"no password", []string{"TRIGGERFLOW_PASSWORD="}, "no password"},
		{"missing password file", []string{"TRIGGERFLOW_PASSWORD_FILE=/nonexistent/password"}, "cannot be read"},
		{"URL without scheme", []string{"TRIGGERFLOW_URL=10.244.0.1:8000"}, "TRIGGERFLOW_URL must start with http"},
		{"bad timeout", []string{"TRIGGERFLOW_TIMEOUT=soon"}, "TRIGGERFLOW_TIMEOUT"},
		{"bad skip", []string{"TRIGGERFLOW_SKIP_ARGS=-1"}, "TRIGGERFLOW_SKIP_ARGS"},
		{"missing CA file", []string{"TRIGGERFLOW_CACERT=/nonexistent/ca.pem"}, "TRIGGERFLOW_CACERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
			r := mediatorRunner(t, f.URL, nil, tt.env...)
			r.MaxAttempts = 1
			res, err := r.Run(context.Background(), "CREATE", nil)
			if err != nil {
				t.Fatal(err)
			}
			if a := res.Last(); a.ExitCode != 78 || !strings.Contains(a.Stderr, tt.want) {
				t.Errorf("attempt %+v; want exit 78 and %q", a, tt.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests reached the server", n)
			}
		})
	}
}

func TestMediatorScriptLeavesNoTempFiles(t *testing.T) {
	t.Parallel()
	f := newFakeIngress(t, tfUser, tfPassword, always(200, `{"output":"stored"}`))
	tmp := t.TempDir()
	r := mediatorRunner(t, f.URL, nil, "TMPDIR="+tmp)
	res, err := r.Run(context.Background(), "CREATE", nil)
	if err != nil || !res.OK() {
		t.Fatalf("run: %v %+v", err, res.Last())
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}
