package rewrite

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Limits and defaults of plugin runs.
const (
	defaultTimeout = 10 * time.Second
	defaultMaxRuns = 3
	// maxOutput bounds a plugin's reply (stdout or response body).
	maxOutput = 8 << 20
	// maxStderr is how much of a plugin's stderr (or an HTTP error body) is kept for
	// error messages.
	maxStderr = 2 << 10
	// waitDelay is how long a run waits, after the plugin process exited or was killed,
	// for a leftover child that still holds its stdout or stderr open.
	waitDelay = 2 * time.Second
)

// Formats of a plugin's input and output.
const (
	formatKVGroup = "kvgroup"
	formatJSON    = "json"
)

// plugin is a checked config.Plugin.
type plugin struct {
	name    string
	argv    []string // argv[0] resolved; nil for an HTTP plugin
	url     string
	format  string // formatKVGroup or formatJSON
	timeout time.Duration
	maxRuns int
}

// New checks the plugins (each command must exist and be executable; each url must be
// http or https) and applies the defaults of config.Plugin. Errors name the setting,
// dispatcher.plugins[i].…; all problems are reported at once. log may be nil.
func New(plugins []config.Plugin, log *slog.Logger) (*Rewriter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Rewriter{
		log: log,
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	var errs []error
	seen := map[string]bool{}
	for i, c := range plugins {
		p, bad := checkPlugin(fmt.Sprintf("dispatcher.plugins[%d]", i), c, seen)
		errs = append(errs, bad...)
		r.plugins = append(r.plugins, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// checkPlugin checks one plugin, named path in errors, and applies its defaults. seen
// holds the names of the plugins before it.
func checkPlugin(path string, c config.Plugin, seen map[string]bool) (plugin, []error) {
	var errs []error
	bad := func(sub, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, sub, fmt.Sprintf(format, args...)))
	}
	p := plugin{name: c.Name, url: c.URL, format: c.Format, timeout: c.Timeout, maxRuns: c.MaxRuns}
	switch {
	case c.Name == "":
		bad(".name", "is required")
	case seen[c.Name]:
		bad(".name", "%q is listed twice", c.Name)
	}
	seen[c.Name] = true
	switch {
	case len(c.Command) > 0 && c.URL != "", len(c.Command) == 0 && c.URL == "":
		bad("", "set exactly one of command and url")
	case len(c.Command) > 0:
		exe, err := checkCommand(c.Command[0])
		if err != nil {
			bad(".command", "%v", err)
		}
		p.argv = append([]string{exe}, c.Command[1:]...)
	default:
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(".url", "%q is not an http(s) URL", c.URL)
		}
	}
	switch p.format {
	case "":
		p.format = formatJSON
		if len(c.Command) > 0 {
			p.format = formatKVGroup
		}
	case formatKVGroup, formatJSON:
	default:
		bad(".format", "%q is not kvgroup or json", c.Format)
	}
	switch {
	case p.timeout == 0:
		p.timeout = defaultTimeout
	case p.timeout < 0:
		bad(".timeout", "%s must be positive", p.timeout)
	}
	switch {
	case p.maxRuns == 0:
		p.maxRuns = defaultMaxRuns
	case p.maxRuns < 0:
		bad(".max_runs", "%d must be at least 1", p.maxRuns)
	}
	return p, errs
}

// checkCommand resolves argv[0] as exec would and checks that it can be run.
func checkCommand(name string) (string, error) {
	if name == "" {
		return "", errors.New("command[0] is empty")
	}
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%q: not found in PATH", name)
		}
		return p, nil
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q: %v", name, errors.Unwrap(err))
	case fi.IsDir():
		return "", fmt.Errorf("%q is a directory", name)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%q is not a regular file", name)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%q is not executable (mode %v)", name, fi.Mode().Perm())
	}
	if err := syscall.Access(name, 1 /* X_OK */); err != nil {
		return "", fmt.Errorf("%q is not executable by this process: %v", name, err)
	}
	return name, nil
}

// encode writes a run's input in the plugin's format.
func (p *plugin) encode(q *pluginRequest) ([]byte, error) {
	if p.format == formatJSON {
		return encodeJSONRequest(q)
	}
	return encodeKVGroupRequest(q)
}

// decode reads a reply in the plugin's format. The error is transient when the output
// cannot be read (reply.ok false), permanent when it breaks the contract.
func (p *plugin) decode(out []byte) (reply, error) {
	if p.format == formatJSON {
		return decodeJSONReply(out)
	}
	return decodeKVGroupReply(out)
}
