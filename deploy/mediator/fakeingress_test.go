package mediator_test

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// reply is what the stand-in ingress answers to one request.
type reply struct {
	status int
	body   string
}

// received is one request as the stand-in ingress saw it.
type received struct {
	Method, Path, RawQuery string
	Query                  url.Values
	Header                 http.Header
	Body                   []byte
	User, Password         string
	HasAuth                bool
	// Cmdlines are the command lines of the processes on this machine that mention the
	// server's address while the request was served (Linux only, when asked for).
	Cmdlines []string
}

// fakeIngress stands in for the triggerflow ingress: it checks basic auth (401 on a mismatch)
// and answers the n-th authorised request (1-based) with answer(n).
type fakeIngress struct {
	*httptest.Server
	user, password string
	answer         func(n int) reply
	scanProcs      bool

	mu   sync.Mutex
	reqs []received
	n    int
}

func newFakeIngress(t *testing.T, user, password string, answer func(n int) reply, opts ...func(*fakeIngress)) *fakeIngress {
	t.Helper()
	return startFakeIngress(t, false, user, password, answer, opts)
}

func newFakeIngressTLS(t *testing.T, user, password string, answer func(n int) reply, opts ...func(*fakeIngress)) *fakeIngress {
	t.Helper()
	return startFakeIngress(t, true, user, password, answer, opts)
}

// scanProcs makes the fake ingress record the command lines that mention its address.
func scanProcs(f *fakeIngress) { f.scanProcs = true }

// acceptPassword makes the fake ingress expect another password than the mediator's.
func acceptPassword(password string) func(*fakeIngress) {
	return func(f *fakeIngress) { f.password = password }
}

func startFakeIngress(t *testing.T, tls bool, user, password string, answer func(n int) reply, opts []func(*fakeIngress)) *fakeIngress {
	t.Helper()
	f := &fakeIngress{user: user, password: password, answer: answer}
	for _, o := range opts {
		o(f)
	}
	f.Server = httptest.NewUnstartedServer(f)
	if tls {
		// Handshakes from clients that do not trust the test CA are expected; keep them quiet.
		f.Config.ErrorLog = log.New(io.Discard, "", 0)
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

// always answers every request the same way.
func always(status int, body string) func(int) reply {
	return func(int) reply { return reply{status, body} }
}

// hostPort is the server address without scheme, as the seed's HOST= line has it.
func (f *fakeIngress) hostPort() string {
	return f.Listener.Addr().String()
}

func (f *fakeIngress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	got := received{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
		Body:     body,
	}
	got.User, got.Password, got.HasAuth = r.BasicAuth()
	if f.scanProcs {
		got.Cmdlines = cmdlinesMentioning(f.hostPort())
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, got)
	authorised := got.HasAuth && got.User == f.user && got.Password == f.password
	if authorised {
		f.n++
	}
	n := f.n
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if !authorised {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"output":"wrong credentials","returnCode":77}}`)
		return
	}
	a := f.answer(n)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakeIngress) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// cmdlinesMentioning returns the command lines (arguments joined by spaces) of the processes
// whose argv contains needle.
func cmdlinesMentioning(needle string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(needle)) {
			continue
		}
		out = append(out, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return out
}

// requireProcfs skips a test that reads other processes' argv where /proc does not offer it.
func requireProcfs(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("skipped: reading process command lines needs Linux /proc (GOOS=%s)", runtime.GOOS)
	}
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skipf("skipped: /proc is not mounted: %v", err)
	}
}
