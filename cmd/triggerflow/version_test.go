package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestVersion(t *testing.T) {
	code, out, errOut := runCLI("version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"triggerflow ", "commit: ", "go:          " + runtime.Version() + "\n", "nats-server: " + server.VERSION + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if code, _, errOut := runCLI("version", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit %d %q", code, errOut)
	}
}

func TestVersionText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "triggerflow unknown\ncommit:      unknown\ngo:          go1.x\nnats-server: 2.x\n"},
		{"devel, no vcs", &debug.BuildInfo{}, "triggerflow (devel)\ncommit:      unknown\ngo:          go1.x\nnats-server: 2.x\n"},
		{"release", &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4b09d74"}, {Key: "vcs.modified", Value: "false"}},
		}, "triggerflow v1.2.3\ncommit:      4b09d74\ngo:          go1.x\nnats-server: 2.x\n"},
		{"modified tree", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4b09d74"}, {Key: "vcs.modified", Value: "true"}},
		}, "triggerflow (devel)\ncommit:      4b09d74 (modified)\ngo:          go1.x\nnats-server: 2.x\n"},
	} {
		if got := versionText(tc.bi, "go1.x", "2.x"); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}
