package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
)

// The operator commands (trace, replay, redrive, resend) talk to NATS with the services'
// connection settings (nats.* of the config file: credentials, TLS), so whatever runs a
// service can run them. The server is --server, else $NATS_URL (as the nats CLI), else
// nats.url, else the embedded server of `triggerflow all` (nats.embedded.host:port).

// opsFlags are the flags every operator command shares.
type opsFlags struct {
	config   string
	server   string
	json     bool
	dryRun   bool
	timeout  time.Duration
	explicit bool // --config was given (a missing file is then an error)
}

// register defines the shared flags on fs; dryRun only on commands that change something.
func (o *opsFlags) register(fs *flag.FlagSet, dryRun bool) {
	fs.Func("config", "config file for nats.* (default $TRIGGERFLOW_CONFIG, else ./triggerflow.yaml; optional)", func(v string) error {
		o.config, o.explicit = v, true
		return nil
	})
	fs.StringVar(&o.server, "server", "", "NATS `url`, instead of $NATS_URL, nats.url or the embedded server of `triggerflow all`")
	fs.BoolVar(&o.json, "json", false, "print JSON (one object per line) instead of text")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for NATS (connect, each request)")
	if dryRun {
		fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be done, change nothing")
	}
}

// loadConfig reads the config for its nats.* settings. Without --config a missing
// default file is fine (defaults apply): an operator may have only a server URL.
func (o *opsFlags) loadConfig() (*config.Config, error) {
	path := o.config
	if !o.explicit {
		path = defaultConfigPath()
	}
	cfg, err := config.Load(path)
	var ps *config.Problems
	switch {
	case err == nil:
		return cfg, nil
	case !o.explicit && errors.Is(err, fs.ErrNotExist):
		return config.Default(), nil
	case errors.As(err, &ps) && cfg != nil:
		// The nats.* settings are what matters here; `config check` reports the rest.
		for _, p := range ps.List {
			if len(p.Path) >= 5 && p.Path[:5] == "nats." {
				return nil, fmt.Errorf("%s: %s", path, p.Error())
			}
		}
		return cfg, nil
	}
	return nil, err
}

// serverURL is where the command connects, and where that came from (for messages).
func (o *opsFlags) serverURL(cfg *config.Config, getenv func(string) string) (url, from string) {
	switch {
	case o.server != "":
		return o.server, "--server"
	case getenv("NATS_URL") != "":
		return getenv("NATS_URL"), "$NATS_URL"
	case cfg.NATS.URL != "":
		return cfg.NATS.URL, "nats.url"
	}
	e := cfg.NATS.Embedded
	return "nats://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), "nats.embedded (triggerflow all)"
}

// opsSession is a connected operator command.
type opsSession struct {
	Config *config.Config
	NC     *nats.Conn
	JS     jetstream.JetStream
	URL    string // redacted
}

// Close drains the connection (what was published is flushed).
func (s *opsSession) Close() { _ = s.NC.Drain() }

// connect loads the config and connects; errors name the server and where it came from.
func (o *opsFlags) connect(stderr io.Writer) (*opsSession, error) {
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts, err := natsconn.Options(cfg.NATS, log)
	if err != nil {
		return nil, err
	}
	url, from := o.serverURL(cfg, os.Getenv)
	opts = append(opts, nats.Timeout(o.timeout), nats.MaxReconnects(0), nats.Name("triggerflow-cli"))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (from %s): %w", natsconn.Redact(url), from, err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(o.timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &opsSession{Config: cfg, NC: nc, JS: js, URL: nc.ConnectedUrlRedacted()}, nil
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// progress reports long work on w (stderr) at most once a second, and at the end.
type progress struct {
	w     io.Writer
	verb  string
	total int // 0: unknown
	done  int
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer, verb string, total int) *progress {
	now := time.Now()
	return &progress{w: w, verb: verb, total: total, start: now, last: now}
}

// add counts n more; it prints when a second has passed since the last line.
func (p *progress) add(n int) {
	p.done += n
	if time.Since(p.last) >= time.Second {
		p.print()
	}
}

// finish prints the final line.
func (p *progress) finish() { p.print() }

func (p *progress) print() {
	p.last = time.Now()
	el := time.Since(p.start).Round(time.Millisecond)
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s %d of %d (%d%%) in %s\n", p.verb, p.done, p.total, p.done*100/p.total, el)
		return
	}
	fmt.Fprintf(p.w, "%s %d in %s\n", p.verb, p.done, el)
}
