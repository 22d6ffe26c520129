package natstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRemoveStaleBinDirs: the binaries' directories of a test process that has exited
// are removed; those of a live one, other names and files are not.
func TestRemoveStaleBinDirs(t *testing.T) {
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := strconv.Itoa(done.Process.Pid), strconv.Itoa(os.Getpid())
	dir := t.TempDir()
	mk := func(name string, isDir bool) string {
		p := filepath.Join(dir, name)
		var err error
		if isDir {
			err = os.MkdirAll(filepath.Join(p, "bin"), 0o755)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk("natstest-bin-"+dead+"-1", true)
	keep := []string{
		mk("natstest-bin-"+live+"-2", true),   // a live process's
		mk("natstest-bin-"+dead+"-3x", false), // a file
		mk("natstest-bin-12ab-4", true),       // no pid
		mk("natstest-bin-"+dead, true),        // no random part: not one of BinDir's
		mk("natstest-cli-"+dead+"-5", true),   // another prefix
	}
	removeStaleBinDirs(dir, "natstest-bin-")
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s: the directory of an exited process is still there (%v)", stale, err)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}

	made, err := BinDir("natstest-bindir-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(made)
	if want := "natstest-bindir-test-" + live + "-"; filepath.Dir(made) != filepath.Clean(os.TempDir()) || len(filepath.Base(made)) <= len(want) || filepath.Base(made)[:len(want)] != want {
		t.Errorf("BinDir made %s, want %s<random> in %s", made, want, os.TempDir())
	}
}
