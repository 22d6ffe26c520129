//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the file in nats.embedded.store_dir that the embedded server holds an
// exclusive lock on while it runs.
const lockName = "triggerflow.lock"

// lockStore takes an exclusive, non-blocking lock on dir's lock file for as long as the
// returned file stays open, and writes this process's id in it. nats-server does not
// lock its store: two processes on one store_dir would each deliver every stored
// message (each posting to the ITSM), and each write over the other's files. The
// kernel drops the lock when the process exits, however it exits (kill -9 included), so
// a crash leaves nothing to clean up.
func lockStore(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded.store_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = "process " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("nats.embedded.store_dir %s is in use by %s (it holds %s): two servers on one store would each deliver every message; stop that one, or give this one a store_dir of its own", dir, holder, lockName)
		}
		return nil, fmt.Errorf("nats.embedded.store_dir: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
