package securechangetest_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// writeScript writes an executable script into a fresh temp dir and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.sh")
	if err := securechangetest.WriteExecutable(path, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunnerEnvironment(t *testing.T) {
	t.Parallel()
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event string
		extra []string
		want  []string
	}{
		{
			name:  "minimal",
			event: "ADVANCE",
			want: []string{
				"HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8", "PATH=" + os.Getenv("PATH"), "SCW_EVENT=ADVANCE",
			},
		},
		{
			name:  "Env wins",
			event: "CREATE",
			extra: []string{"PATH=/opt/shim:/usr/bin", "LANG=de_DE.UTF-8", "SCW_EVENT=REDO", "EXTRA=a=b"},
			want: []string{
				"EXTRA=a=b", "HOME=" + os.Getenv("HOME"), "LANG=de_DE.UTF-8", "PATH=/opt/shim:/usr/bin", "SCW_EVENT=REDO",
			},
		},
		{
			name: "no event, no SCW_EVENT",
			want: []string{"HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8", "PATH=" + os.Getenv("PATH")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := securechangetest.Runner{Script: envBin, Env: tt.extra}.Run(context.Background(), tt.event, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(res.Last().Stdout, "\n"), "\n")
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("environment = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunnerPassesStdinAndArgs(t *testing.T) {
	t.Parallel()
	script := writeScript(t, "#!/bin/sh\ncat\nprintf '[%s]' \"$@\" >&2\n")
	ticket := []byte("<ticket_info>\r\n <subject>é &amp; ✓</subject>\n</ticket_info>\n\n")
	r := securechangetest.Runner{Script: script, Args: []string{"Mediator Test", "a b", `"q"`, ""}}
	res, err := r.Run(context.Background(), "CREATE", ticket)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 1 || !res.OK() {
		t.Fatalf("attempts = %+v, want one successful", res.Attempts)
	}
	a := res.Last()
	if a.Stdout != string(ticket) {
		t.Errorf("stdin seen by the script = %q, want %q", a.Stdout, ticket)
	}
	if want := `[Mediator Test][a b]["q"][]`; a.Stderr != want {
		t.Errorf("argv seen by the script = %s, want %s", a.Stderr, want)
	}
	if a.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", a.Duration)
	}
}

// counterScript exits 3 until its n-th run, then 0; $1 is its counter file.
const counterScript = `#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$1"
echo "attempt $n"
[ "$n" -ge "$2" ] && exit 0
echo "failing $n" >&2
exit 3
`

func TestRunnerRetriesWhileNonZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		succeedOn   string
		maxAttempts int
		backoff     time.Duration
		wantCodes   []int
	}{
		{"third attempt succeeds", "3", 0, 0, []int{3, 3, 0}},
		{"default is five attempts", "99", 0, 0, []int{3, 3, 3, 3, 3}},
		{"MaxAttempts bounds the retries", "3", 2, 0, []int{3, 3}},
		{"first attempt succeeds", "1", 0, 0, []int{0}},
		{"backoff between attempts", "3", 0, 20 * time.Millisecond, []int{3, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			counter := filepath.Join(t.TempDir(), "count")
			r := securechangetest.Runner{
				Script:      writeScript(t, counterScript),
				Args:        []string{counter, tt.succeedOn},
				MaxAttempts: tt.maxAttempts,
				Backoff:     tt.backoff,
			}
			start := time.Now()
			res, err := r.Run(context.Background(), "ADVANCE", nil)
			if err != nil {
				t.Fatal(err)
			}
			var codes []int
			for i, a := range res.Attempts {
				codes = append(codes, a.ExitCode)
				if want := "attempt " + string(rune('1'+i)) + "\n"; a.Stdout != want {
					t.Errorf("attempt %d stdout = %q, want %q", i+1, a.Stdout, want)
				}
			}
			if !slices.Equal(codes, tt.wantCodes) {
				t.Errorf("exit codes = %v, want %v", codes, tt.wantCodes)
			}
			if res.OK() != (tt.wantCodes[len(tt.wantCodes)-1] == 0) {
				t.Errorf("OK() = %v with exit codes %v", res.OK(), codes)
			}
			if minWait := time.Duration(len(codes)-1) * tt.backoff; time.Since(start) < minWait {
				t.Errorf("run took %v, want at least %v of backoff", time.Since(start), minWait)
			}
		})
	}
}

func TestRunnerTimeoutKillsTheScriptAndItsChildren(t *testing.T) {
	t.Parallel()
	// sh waits for its child sleep, which holds stdout open: only killing the whole process
	// group ends the attempt promptly.
	script := writeScript(t, "#!/bin/sh\necho started\nsleep 30\necho never\n")
	r := securechangetest.Runner{Script: script, MaxAttempts: 2, Timeout: 300 * time.Millisecond}
	start := time.Now()
	res, err := r.Run(context.Background(), "CLOSE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("two timed-out attempts took %v", elapsed)
	}
	if len(res.Attempts) != 2 {
		t.Fatalf("attempts = %d, want 2", len(res.Attempts))
	}
	for i, a := range res.Attempts {
		// A loaded machine may kill the script before it printed anything.
		if !a.TimedOut || a.ExitCode != 128+9 || (a.Stdout != "started\n" && a.Stdout != "") {
			t.Errorf("attempt %d = %+v, want TimedOut, exit 137, stdout %q", i+1, a, "started\n")
		}
	}
}

func TestRunnerStartFailures(t *testing.T) {
	t.Parallel()
	notExecutable := filepath.Join(t.TempDir(), "plain.sh")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		script string
		want   error
	}{
		{"missing script", filepath.Join(t.TempDir(), "missing.sh"), fs.ErrNotExist},
		{"not executable", notExecutable, fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := securechangetest.Runner{Script: tt.script}.Run(context.Background(), "CREATE", nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run error = %v, want %v", err, tt.want)
			}
			if len(res.Attempts) != 0 {
				t.Errorf("attempts = %+v, want none", res.Attempts)
			}
		})
	}
}

func TestRunnerStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	counter := filepath.Join(t.TempDir(), "count")
	r := securechangetest.Runner{Script: writeScript(t, counterScript), Args: []string{counter, "99"}}
	_, err := r.Run(ctx, "CREATE", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
}

func TestResultOfNoAttempts(t *testing.T) {
	t.Parallel()
	var r securechangetest.Result
	if r.OK() {
		t.Error("OK() of no attempts = true")
	}
	if (r.Last() != securechangetest.Attempt{}) {
		t.Errorf("Last() of no attempts = %+v", r.Last())
	}
}
