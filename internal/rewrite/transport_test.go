package rewrite

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
	"github.com/triggerflow/triggerflow/pkg/events"
)

func TestRewriteTimeoutKillsProcessGroup(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "child.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The plugin's child opens the FIFO for writing and holds it: the reader sees EOF
	// only once that child is dead.
	childGone := make(chan error, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			childGone <- err
			return
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		childGone <- err
	}()
	t.Cleanup(func() {
		// Unblock the reader if the child never opened the FIFO.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})

	const timeout = time.Second
	r := newTestRewriter(t, config.Plugin{Name: "slow", Command: pluginCmd(t, "kv_sleep.sh", fifo), Timeout: timeout})
	start := time.Now()
	_, err := r.Rewrite(context.Background(), testInput())
	elapsed := time.Since(start)
	if err == nil || failure.IsPermanent(err) {
		t.Fatalf("err = %v (permanent %v), want a transient error", err, failure.IsPermanent(err))
	}
	if !strings.Contains(err.Error(), `rewrite plugin "slow": timed out after 1s`) {
		t.Errorf("err = %q", err)
	}
	if elapsed < timeout || elapsed > timeout+5*time.Second {
		t.Errorf("Rewrite took %s, want about %s", elapsed, timeout)
	}
	select {
	case err := <-childGone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin's child still holds the FIFO open 10s after the timeout: not killed")
	}
}

func TestRewriteCrash(t *testing.T) {
	r := newTestRewriter(t, config.Plugin{Name: "cmdb", Command: pluginCmd(t, "kv_crash.sh")})
	_, err := r.Rewrite(context.Background(), testInput())
	if err == nil || failure.IsPermanent(err) {
		t.Fatalf("err = %v (permanent %v), want a transient error", err, failure.IsPermanent(err))
	}
	if want := `rewrite plugin "cmdb": exited with status 3; stderr: boom: cannot reach the CMDB`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// TestRewriteHTTP: HTTP plugins, both formats, and how each kind of response is
// classified. Long: one server, its handlers declared up front for the table below.
func TestRewriteHTTP(t *testing.T) {
	open := opID("change-mgmt", "open-change")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ok", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		var in jsonInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Trigger["trigger_id"] != testTriggerID {
			http.Error(w, "bad input", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"retval": 0, "infomsg": "saw `+strconv.Itoa(len(in.Request.Resources))+` resources",
			"retainResources": true, "rerun": "false", "request": {"resources": [
			{"id": "`+in.Request.Resources[1].ID+`", "remove": true},
			{"kind": "itsm", "target": "jira", "action": "jira-issue", "mandatory": true, "spec": {"project": "NET"}}]}}`)
	})
	mux.HandleFunc("POST /kv", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if _, err := kvgroup.Parse(b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, `"" "" = { "retval" = "0" "retainResources" = "true" "resource" "`+open+`" = { "group" = "g1" } }`)
	})
	mux.HandleFunc("POST /500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database is down", http.StatusInternalServerError)
	})
	mux.HandleFunc("POST /400", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unknown workflow", http.StatusBadRequest)
	})
	mux.HandleFunc("POST /html", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "<html>maintenance</html>")
	})
	mux.HandleFunc("POST /nokind", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"retval": 0, "retainResources": true, "request": {"resources": [{"action": "x"}]}}`)
	})
	mux.HandleFunc("POST /hang", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
		<-r.Context().Done()        // which it does at its timeout
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("200 json", func(t *testing.T) {
		r := newTestRewriter(t, config.Plugin{Name: "web", URL: srv.URL + "/ok"})
		got := rewrite(t, r, testInput())
		wantActions(t, got, "open-change", "approve", "jira-issue")
		wantInfo(t, got, `plugin "web": saw 3 resources`)
		op := opByAction(t, got, "jira-issue")
		if op.ID != opID("plugin:web", "jira-issue") || op.Kind != events.OpITSM || op.Target != "jira" || !op.Mandatory || string(op.Spec) != `{"project":"NET"}` {
			t.Errorf("added = %+v", op)
		}
	})
	t.Run("200 kvgroup", func(t *testing.T) {
		r := newTestRewriter(t, config.Plugin{Name: "webkv", URL: srv.URL + "/kv", Format: "kvgroup"})
		got := rewrite(t, r, testInput())
		wantActions(t, got, "open-change", "notify-requester", "approve")
		if g := opByAction(t, got, "open-change").Group; g != "g1" {
			t.Errorf("group = %q", g)
		}
	})
	for _, tc := range []struct {
		path      string
		permanent bool
		want      string
	}{
		{"/500", false, `rewrite plugin "web": HTTP 500 Internal Server Error: database is down`},
		{"/400", true, `rewrite plugin "web": HTTP 400 Bad Request: unknown workflow`},
		{"/html", false, `rewrite plugin "web": unreadable output: not a JSON object (the output starts "<html>maintenance</html>")`},
		{"/nokind", true, `rewrite plugin "web": invalid output: added resource ` + opID("plugin:web", "x") + ` (action "x"): kind is required (itsm, securechange or email)`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := newTestRewriter(t, config.Plugin{Name: "web", URL: srv.URL + tc.path})
			_, err := r.Rewrite(context.Background(), testInput())
			if err == nil || failure.IsPermanent(err) != tc.permanent {
				t.Fatalf("err = %v (permanent %v), want permanent %v", err, failure.IsPermanent(err), tc.permanent)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		r := newTestRewriter(t, config.Plugin{Name: "web", URL: srv.URL + "/hang", Timeout: 200 * time.Millisecond})
		_, err := r.Rewrite(context.Background(), testInput())
		if err == nil || failure.IsPermanent(err) || err.Error() != `rewrite plugin "web": timed out after 200ms` {
			t.Fatalf("err = %v (permanent %v), want a transient timeout", err, failure.IsPermanent(err))
		}
	})
	t.Run("tls verified", func(t *testing.T) {
		tlsSrv := httptest.NewUnstartedServer(mux)
		tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
		tlsSrv.StartTLS()
		defer tlsSrv.Close()
		r := newTestRewriter(t, config.Plugin{Name: "web", URL: tlsSrv.URL + "/ok"})
		_, err := r.Rewrite(context.Background(), testInput())
		if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a transient certificate error (verification is on)", err)
		}
	})
}

func TestRewriteContextCanceled(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "child.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// The plugin's child opened the FIFO: the plugin is running; cancel.
		if f, err := os.Open(fifo); err == nil {
			cancel()
			io.Copy(io.Discard, f)
			f.Close()
		}
	}()
	t.Cleanup(func() {
		cancel()
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	r := newTestRewriter(t, config.Plugin{Name: "slow", Command: pluginCmd(t, "kv_sleep.sh", fifo), Timeout: time.Minute})
	_, err := r.Rewrite(ctx, testInput())
	if !errors.Is(err, context.Canceled) || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want context.Canceled, transient", err)
	}
}
