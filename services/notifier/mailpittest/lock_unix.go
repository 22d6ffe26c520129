//go:build unix

package mailpittest

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockBuild serialises the build of Mailpit across test processes (go test runs the
// test binaries of several packages at once): the go command does not share work in
// progress between processes, so on a cold build cache each would compile all of
// Mailpit. The second waits for the first and then finds the build cache filled.
func lockBuild() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "triggerflow-mailpittest-build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
