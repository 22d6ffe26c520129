package natstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BinDir makes a directory for the binaries a test process builds (BuildOnce), named
// <prefix><pid>-<random> in the system's temporary directory, and first removes the
// directories of that prefix left by test processes that have exited: nothing removes a
// directory when its test process ends, and each held a build of tens of MiB.
func BinDir(prefix string) (string, error) {
	removeStaleBinDirs(os.TempDir(), prefix)
	return os.MkdirTemp("", prefix+strconv.Itoa(os.Getpid())+"-")
}

// removeStaleBinDirs removes the directories <prefix><pid>-… in dir whose process has
// exited. A name without a pid, or with a live one, is left alone.
func removeStaleBinDirs(dir, prefix string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		digits, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(digits)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			fmt.Fprintf(os.Stderr, "natstest: removing a finished test process's binaries: %v\n", err)
		}
	}
}
