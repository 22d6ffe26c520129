//go:build unix

package embedded_test

import (
	"bufio"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/embedded"
)

// holdStoreEnv makes the test binary, run by TestStoreDirLocked, start an embedded
// server on the store it names, say "started", and run until killed.
const holdStoreEnv = "TRIGGERFLOW_TEST_HOLD_STORE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdStoreEnv); dir != "" {
		if _, err := embedded.Start(storeAt(dir), slog.New(slog.DiscardHandler)); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("started\n")
		select {}
	}
	os.Exit(m.Run())
}

func storeAt(dir string) config.Embedded {
	return config.Embedded{Host: "127.0.0.1", Port: -1, StoreDir: dir}
}

// TestStoreDirLocked: a second embedded server on a store_dir in use is refused with an
// error naming the store and the process that holds it, whether that is this process or
// another; the store is free again once the first stops, or once its process is killed
// with SIGKILL (the kernel drops the lock, nothing is left to clean up).
func TestStoreDirLocked(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	a, err := embedded.Start(storeAt(dir), log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = embedded.Start(storeAt(dir), log)
	if err == nil || !strings.Contains(err.Error(), "nats.embedded.store_dir "+dir+" is in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second server on a store in use: %v", err)
	}
	a.Stop()
	b, err := embedded.Start(storeAt(dir), log)
	if err != nil {
		t.Fatalf("the store after the first server stopped: %v", err)
	}
	b.Stop()

	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdStoreEnv+"="+dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "started\n" {
		t.Fatalf("the holding process said %q", line)
	}
	_, err = embedded.Start(storeAt(dir), log)
	if err == nil || !strings.Contains(err.Error(), "is in use by process "+strconv.Itoa(holder.Process.Pid)+" ") {
		t.Fatalf("a server on a store another process holds: %v", err)
	}
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	c, err := embedded.Start(storeAt(dir), log)
	if err != nil {
		t.Fatalf("the store after its holder was killed: %v", err)
	}
	c.Stop()
}
