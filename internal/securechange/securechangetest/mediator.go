package securechangetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
)

// MediatorSettings are the five "User hardcoded arguments" an admin edits in the seed mediator.
type MediatorSettings struct {
	Host, Endpoint, Username, Password, ExecScript string
}

// MediatorFileName is the name InstallMediator gives its copy, as in the seed's instructions.
const MediatorFileName = "script_mediator.sh"

// SeedMediator returns the absolute path of testdata/script_mediator.sh.
func SeedMediator() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("securechangetest: runtime.Caller failed; cannot locate testdata/script_mediator.sh")
	}
	return filepath.Join(filepath.Dir(file), "testdata", MediatorFileName)
}

// settingLines are the assignment prefixes InstallMediator edits, in the seed's order.
var settingLines = []string{"HOST=", "ENDPOINT=", "USERNAME=", "PASSWORD=", "EXEC_SCRIPT="}

func (s MediatorSettings) values() []string {
	return []string{s.Host, s.Endpoint, s.Username, s.Password, s.ExecScript}
}

// InstallMediator writes a copy of the seed mediator into dir with only the five assignment lines
// (HOST=, ENDPOINT=, USERNAME=, PASSWORD=, EXEC_SCRIPT=) replaced, mode 0755, and returns its
// path. A value made only of characters that need no shell quoting is written bare, as in the
// seed; any other value is single-quoted, as a careful admin would. It fails if any of the five
// lines is not found exactly once, or if a value contains a line break or NUL.
func InstallMediator(dir string, s MediatorSettings) (string, error) {
	seed, err := os.ReadFile(SeedMediator())
	if err != nil {
		return "", fmt.Errorf("install mediator: %w", err)
	}
	out, err := editSettings(string(seed), s)
	if err != nil {
		return "", fmt.Errorf("install mediator: %w", err)
	}
	path := filepath.Join(dir, MediatorFileName)
	if err := WriteExecutable(path, []byte(out)); err != nil {
		return "", fmt.Errorf("install mediator: %w", err)
	}
	return path, nil
}

// editSettings replaces the five setting lines of script.
func editSettings(script string, s MediatorSettings) (string, error) {
	lines := strings.Split(script, "\n")
	var errs []error
	for i, prefix := range settingLines {
		value := s.values()[i]
		name := strings.TrimSuffix(prefix, "=")
		if strings.ContainsAny(value, "\n\r\x00") {
			errs = append(errs, fmt.Errorf("%s: value %q contains a line break or NUL", name, value))
			continue
		}
		at := -1
		n := 0
		for j, line := range lines {
			if strings.HasPrefix(line, prefix) {
				at = j
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("%s: want exactly one line starting with %q, found %d", name, prefix, n))
			continue
		}
		lines[at] = prefix + shellWord(value)
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

var bareWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=-]*$`)

// shellWord returns v as the right-hand side of a bash assignment.
func shellWord(v string) string {
	if bareWord.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// PythonShim creates dir/python, which execs python3 (the seed calls `python`, which many
// systems no longer have), and returns dir for the front of PATH.
func PythonShim(dir string) (string, error) {
	python3, err := exec.LookPath("python3")
	if err == nil {
		python3, err = filepath.Abs(python3)
	}
	if err != nil {
		return "", fmt.Errorf("python shim: %w", err)
	}
	script := "#!/bin/sh\nexec " + shellWord(python3) + " \"$@\"\n"
	if err := WriteExecutable(filepath.Join(dir, "python"), []byte(script)); err != nil {
		return "", fmt.Errorf("python shim: %w", err)
	}
	return dir, nil
}

// WriteExecutable writes an executable file (mode 0755 whatever the umask) while holding
// syscall.ForkLock, so that no process forked meanwhile by another goroutine (parallel
// tests run scripts) inherits the open write descriptor: the file could otherwise not be
// executed until that child exec'd ("text file busy", golang/go#22315).
func WriteExecutable(path string, data []byte) error {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
