package securechangetest_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

func TestInstallMediatorChangesOnlyTheFiveSettings(t *testing.T) {
	t.Parallel()
	s := securechangetest.MediatorSettings{
		Host:       "127.0.0.1:8000",
		Endpoint:   "v1/trigger_file",
		Username:   "scw-mediator",
		Password:   `it's a "secret" $HOME`,
		ExecScript: "/opt/triggerflow/none",
	}
	path, err := securechangetest.InstallMediator(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o755 {
		t.Errorf("mode = %v, want 0755", mode)
	}
	seed := readLines(t, securechangetest.SeedMediator())
	got := readLines(t, path)
	if len(got) != len(seed) {
		t.Fatalf("installed copy has %d lines, the seed %d", len(got), len(seed))
	}
	want := map[string]string{
		"HOST=":        "HOST=127.0.0.1:8000",
		"ENDPOINT=":    "ENDPOINT=v1/trigger_file",
		"USERNAME=":    "USERNAME=scw-mediator",
		"PASSWORD=":    `PASSWORD='it'\''s a "secret" $HOME'`,
		"EXEC_SCRIPT=": "EXEC_SCRIPT=/opt/triggerflow/none",
	}
	changed := map[string]bool{}
	for i := range seed {
		if got[i] == seed[i] {
			continue
		}
		prefix, _, _ := strings.Cut(seed[i], "=")
		prefix += "="
		w, ok := want[prefix]
		if !ok {
			t.Errorf("line %d changed but is not a setting: %q -> %q", i+1, seed[i], got[i])
			continue
		}
		if got[i] != w {
			t.Errorf("line %d = %q, want %q", i+1, got[i], w)
		}
		changed[prefix] = true
	}
	for prefix := range want {
		if !changed[prefix] {
			t.Errorf("setting %s was not changed", prefix)
		}
	}

	// The quoted password must read back as the exact value.
	out, err := exec.Command("bash", "-c", `eval "$(grep '^PASSWORD=' "$1")"; printf %s "$PASSWORD"`, "bash", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != s.Password {
		t.Errorf("PASSWORD reads back as %q, want %q", out, s.Password)
	}
}

func TestInstallMediatorRejectsMultiLineValues(t *testing.T) {
	t.Parallel()
	_, err := securechangetest.InstallMediator(t.TempDir(), securechangetest.MediatorSettings{Host: "h", Endpoint: "e", Username: "u", Password: "a\nb", ExecScript: "x"})
	if err == nil || !strings.Contains(err.Error(), "PASSWORD") {
		t.Fatalf("InstallMediator error = %v, want one naming PASSWORD", err)
	}
}

func TestInstallMediatorFailsOnAMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := securechangetest.InstallMediator(filepath.Join(t.TempDir(), "missing"), securechangetest.MediatorSettings{})
	if err == nil {
		t.Fatal("InstallMediator into a missing directory succeeded")
	}
}

func TestSeedMediatorIsValidBashAndPython(t *testing.T) {
	t.Parallel()
	path := securechangetest.SeedMediator()
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", path, err, out)
	}
	snippet := pythonSnippet(t, readLines(t, path))
	// Inside bash double quotes only $, `, \ and " are special; the snippet has none, so python
	// receives exactly these lines.
	if strings.ContainsAny(snippet, "$`\\\"") {
		t.Fatalf("python snippet contains a character bash would expand: %q", snippet)
	}
	cmd := exec.Command("python3", "-c", "import ast,sys; ast.parse(sys.stdin.read())")
	cmd.Stdin = strings.NewReader(snippet)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python snippet does not parse: %v\n%s\n--- snippet ---\n%s", err, out, snippet)
	}
	if !strings.Contains(snippet, "\n    sys.exit(ext_code)\n") {
		t.Errorf("sys.exit(ext_code) is not in the body of the if: %q", snippet)
	}
}

// TestSeedMediatorDiffersFromTheSeedOnlyByTheRepairs compares testdata/script_mediator.sh with
// the script as printed in seed 000, when the shared seeds are next to the repository.
func TestSeedMediatorDiffersFromTheSeedOnlyByTheRepairs(t *testing.T) {
	t.Parallel()
	pages, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", "shared", "seeds", "000_*.txt"))
	if len(pages) != 1 {
		t.Skipf("skipped: seed 000 is not at ../shared/seeds next to the repository (found %d files)", len(pages))
	}
	page, err := os.ReadFile(pages[0])
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(page, []byte("#! /bin/bash\n"))
	end := bytes.Index(page, []byte("sys.exit(ext_code) -\n"))
	if start < 0 || end < start {
		t.Fatal("cannot find the mediator script in seed 000")
	}
	printed := string(page[start : end+len("sys.exit(ext_code) -\n")])
	repaired := strings.Replace(printed, "\nsys.stderr.write(stderr)\n", "\n    sys.stderr.write(stderr)\n", 1)
	repaired = strings.Replace(repaired, "\nsys.exit(ext_code) -\n", "\nsys.exit(ext_code)\n\"\n", 1)
	repaired = strings.Replace(repaired, "\nsys.exit(ext_code)\n", "\n    sys.exit(ext_code)\n", 1)
	ours, err := os.ReadFile(securechangetest.SeedMediator())
	if err != nil {
		t.Fatal(err)
	}
	if string(ours) != repaired {
		t.Fatalf("testdata/script_mediator.sh is not seed 000 plus the three repairs\n--- want ---\n%s\n--- got ---\n%s", repaired, ours)
	}
}

// pythonSnippet returns the lines between `python -c "` and the closing `"`.
func pythonSnippet(t *testing.T, lines []string) string {
	t.Helper()
	start := -1
	for i, l := range lines {
		if l == `python -c "` {
			start = i + 1
			continue
		}
		if start >= 0 && l == `"` {
			return strings.Join(lines[start:i], "\n") + "\n"
		}
	}
	t.Fatal(`cannot find the python -c "…" snippet`)
	return ""
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}
