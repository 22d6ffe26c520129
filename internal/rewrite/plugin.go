package rewrite

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Limits of plugin runs.
const (
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

// plugin is a config.Plugin, validated and with its defaults (internal/config).
type plugin struct {
	name    string
	argv    []string // nil for an HTTP plugin
	url     string
	format  string // formatKVGroup or formatJSON
	timeout time.Duration
	maxRuns int
}

// New prepares the plugins of a validated config (config.Load: each command exists and
// can be run, each url is http or https, the defaults applied). log may be nil.
func New(plugins []config.Plugin, log *slog.Logger) *Rewriter {
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
	for _, c := range plugins {
		r.plugins = append(r.plugins, plugin{name: c.Name, argv: c.Command, url: c.URL, format: c.Format, timeout: c.Timeout, maxRuns: c.MaxRuns})
	}
	return r
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
