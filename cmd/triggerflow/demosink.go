package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const demoSinkHelp = `Usage: triggerflow demo-sink [--listen ADDR]

A stand-in ITSM server for trying triggerflow out (make run starts one): it prints every
request it receives (method, path, Idempotency-Key, body) on stdout and answers like a
REST API that creates records:
  POST|PUT|PATCH <path>   201 with the JSON it got; a body with "trigger": "<id>" is kept
                          as <path>/<id>
  GET <path>/<id>         200 with what was kept there, else 404 (the example's lookups)
Nothing is stored on disk; it is not an ITSM.
`

// demoSink is the HTTP handler of `triggerflow demo-sink`.
type demoSink struct {
	out  io.Writer
	mu   sync.Mutex
	kept map[string][]byte // <path>/<trigger> → body
}

func (s *demoSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, `{"error":"unreadable body"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		b, ok := s.kept[r.URL.Path]
		fmt.Fprintf(s.out, "demo-sink: GET %s → %s\n", r.URL.Path, map[bool]string{true: "200 found", false: "404 not found"}[ok])
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not found"}`)
			return
		}
		_, _ = w.Write(b)
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		fmt.Fprintf(s.out, "demo-sink: %s %s Idempotency-Key=%s %s\n", r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), strings.TrimSpace(string(body)))
		var rec struct {
			Trigger string `json:"trigger"`
		}
		if json.Unmarshal(body, &rec) == nil && rec.Trigger != "" {
			s.kept[strings.TrimSuffix(r.URL.Path, "/")+"/"+rec.Trigger] = body
		}
		if !json.Valid(body) {
			body = []byte(`{}`)
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, `{"error":"method not allowed"}`)
	}
}

// demoSinkCmd runs the demo sink until SIGINT or SIGTERM.
func demoSinkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9999", "listen address")
	if code, done := parseFlags(fs, args, func(w io.Writer) { fmt.Fprint(w, demoSinkHelp); printFlags(fs, w) }, stdout, stderr); done {
		return code
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow demo-sink: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: &demoSink{out: stdout, kept: map[string][]byte{}}, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "demo-sink: listening on http://%s (prints what it receives)\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "triggerflow demo-sink: %v\n", err)
		return 1
	}
	return 0
}
