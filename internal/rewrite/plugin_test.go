package rewrite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

func TestNewRewriterChecks(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.sh")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := pluginCmd(t, "kv_add.sh")
	for _, tc := range []struct {
		name string
		p    config.Plugin
		want string
	}{
		{"missing", config.Plugin{Name: "x", Command: []string{filepath.Join(dir, "nope.sh")}}, `dispatcher.plugins[1].command: "` + filepath.Join(dir, "nope.sh") + `": no such file or directory`},
		{"not executable", config.Plugin{Name: "x", Command: []string{plain}}, `dispatcher.plugins[1].command: "` + plain + `" is not executable (mode -rw-r--r--)`},
		{"directory", config.Plugin{Name: "x", Command: []string{dir}}, `dispatcher.plugins[1].command: "` + dir + `" is a directory`},
		{"not in PATH", config.Plugin{Name: "x", Command: []string{"triggerflow-no-such-plugin"}}, `dispatcher.plugins[1].command: "triggerflow-no-such-plugin": not found in PATH`},
		{"both", config.Plugin{Name: "x", Command: ok, URL: "http://localhost/"}, `dispatcher.plugins[1]: set exactly one of command and url`},
		{"neither", config.Plugin{Name: "x"}, `dispatcher.plugins[1]: set exactly one of command and url`},
		{"bad url", config.Plugin{Name: "x", URL: "ftp://host/x"}, `dispatcher.plugins[1].url: "ftp://host/x" is not an http(s) URL`},
		{"bad format", config.Plugin{Name: "x", Command: ok, Format: "xml"}, `dispatcher.plugins[1].format: "xml" is not kvgroup or json`},
		{"duplicate", config.Plugin{Name: "first", Command: ok}, `dispatcher.plugins[1].name: "first" is listed twice`},
		{"no name", config.Plugin{Command: ok}, `dispatcher.plugins[1].name: is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]config.Plugin{{Name: "first", Command: ok}, tc.p}, nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}

	r, err := New([]config.Plugin{
		{Name: "cmd", Command: []string{"bash", "-c", "true"}},
		{Name: "web", URL: "https://plugins.example/rewrite"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.plugins[0]; p.format != "kvgroup" || p.timeout != 10*time.Second || p.maxRuns != 3 || !filepath.IsAbs(p.argv[0]) {
		t.Errorf("command defaults = %+v", p)
	}
	if p := r.plugins[1]; p.format != "json" || p.argv != nil {
		t.Errorf("url defaults = %+v", p)
	}
}
