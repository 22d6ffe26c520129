package main_test

// PIPE_PROFILE=<dir> of BenchmarkPipeline: a CPU profile of every process (nats-server
// through its prof_port, triggerflow's through admin.pprof on admin.listen) taken during
// the load, and a heap profile after it, written to
// <dir>/<variant>-r<round>-<process>.{cpu,heap}.pprof (`go tool pprof -top <file>`).

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// profiler takes the profiles of one run.
type profiler struct {
	dir, prefix string
	procs       []pipeProc
	wg          sync.WaitGroup
	mu          sync.Mutex
	notes       []string
}

// startProfiles begins a CPU profile of d of each process with a debug URL; nil without
// a directory.
func startProfiles(dir, prefix string, procs []pipeProc, d time.Duration) *profiler {
	if dir == "" {
		return nil
	}
	p := &profiler{dir: dir, prefix: prefix, procs: procs}
	secs := strconv.Itoa(max(1, int(d.Seconds())))
	for _, pp := range procs {
		if pp.debug == "" {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.fetch(pp, "profile?seconds="+secs, "cpu")
		}()
	}
	return p
}

// finish waits for the CPU profiles, takes the heap profiles and returns what was written.
func (p *profiler) finish() []string {
	if p == nil {
		return nil
	}
	p.wg.Wait()
	for _, pp := range p.procs {
		if pp.debug != "" {
			p.fetch(pp, "heap", "heap")
		}
	}
	return p.notes
}

func (p *profiler) fetch(pp pipeProc, what, kind string) {
	note := func(s string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.notes = append(p.notes, s)
	}
	res, err := (&http.Client{Timeout: 5 * time.Minute}).Get(pp.debug + "/debug/pprof/" + what)
	if err != nil {
		note(fmt.Sprintf("%s: no %s profile: %v", pp.name, kind, err))
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		note(fmt.Sprintf("%s: no %s profile: %s (no /debug/pprof/ there)", pp.name, kind, res.Status))
		return
	}
	path := filepath.Join(p.dir, fmt.Sprintf("%s-%s.%s.pprof", p.prefix, pp.name, kind))
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, res.Body)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		note(fmt.Sprintf("%s: %s profile not written: %v", pp.name, kind, err))
		return
	}
	note(path)
}

func (o pipeOptions) profileDir(tb testing.TB) string {
	tb.Helper()
	if o.profile == "" {
		return ""
	}
	dir, err := filepath.Abs(o.profile)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		tb.Fatalf("PIPE_PROFILE: %v", err)
	}
	return dir
}
