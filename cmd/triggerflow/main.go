// Command triggerflow runs the triggerflow services: all of them in one process on an
// embedded JetStream (`triggerflow all`), or one of them (`triggerflow ingress`), and
// checks config files (`triggerflow config check`).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/app"
	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/configcheck"
	"github.com/triggerflow/triggerflow/services/ingress"
)

const usage = `triggerflow carries SecureChange workflow triggers through NATS JetStream.

Usage:
  triggerflow all [--config FILE] [--dev] [--listen ADDR]
        every service in one process; embedded JetStream when nats.url is empty
  triggerflow ingress [--config FILE] [--dev] [--listen ADDR]
        the HTTP ingress only
  triggerflow dispatcher [--config FILE] [--admin-listen ADDR]
        the dispatcher only (plans triggers)
  triggerflow itsm-sync [--config FILE] [--admin-listen ADDR]
        itsm-sync only (ITSM calls, SecureChange write-backs)
  triggerflow notifier [--config FILE] [--admin-listen ADDR]
        the notifier only (emails and failure alerts)
  triggerflow config check [FILE]
        validate a config file, with line numbers
  triggerflow version
        module version, VCS commit, Go and nats-server versions
  triggerflow demo-sink [--listen ADDR]
        a stand-in ITSM that prints what it receives (make run starts one on :9999)
  triggerflow replay --since TIME|--from-seq N [--ticket ID] [--event EVENT] [--force] [--dry-run] [--json]
        plan stored triggers again; operations already done are skipped unless --force
  triggerflow resend OPERATION-ID [--dry-run] [--json]
        perform one operation again, forced
  triggerflow trace TICKET [--since T] [--json]
        what happened to a ticket, in time order, across every stream and bucket
  triggerflow redrive [--service S] [--ticket T] [--since T] [--all] [--skip] [--again] [--dry-run] [--json]
        republish dead letters to where they were going, each once

The config file is --config, else $TRIGGERFLOW_CONFIG, else ./triggerflow.yaml.
Listen addresses: --listen, else $TRIGGERFLOW_INGRESS_LISTEN, else ingress.listen (the
ingress, with /healthz, /readyz, /metrics); --admin-listen, else $TRIGGERFLOW_ADMIN_LISTEN,
else admin.listen (/healthz, /readyz, /metrics of dispatcher, itsm-sync and notifier), so
several commands can share one host and one config file.
Run "triggerflow <command> --help" for a command's flags.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "all", "ingress", "dispatcher", "itsm-sync", "notifier": // app.Commands
		return serve(args[0], args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "version":
		return versionCmd(args[1:], stdout, stderr)
	case "demo-sink":
		return demoSinkCmd(args[1:], stdout, stderr)
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	case "resend":
		return resendCmd(args[1:], stdout, stderr)
	case "trace":
		return traceCmd(args[1:], stdout, stderr)
	case "redrive":
		return redriveCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "triggerflow: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func defaultConfigPath() string {
	if p := os.Getenv("TRIGGERFLOW_CONFIG"); p != "" {
		return p
	}
	return "triggerflow.yaml"
}

var serveHelp = map[string]string{
	"all": `Usage: triggerflow all [--config FILE] [--dev] [--listen ADDR]

Runs every service (ingress, dispatcher, itsm-sync, and the notifier when smtp.host is
set) in one process. With nats.url empty it starts an embedded nats-server with JetStream
(nats.embedded.*), stopped after the services. /healthz, /readyz and /metrics are served
on the ingress's listener.
`,
	"ingress": `Usage: triggerflow ingress [--config FILE] [--dev] [--listen ADDR]

Runs the HTTP ingress: POST <ingress.path> (the seed mediator's JSON) and
POST /v1/triggers/{EVENT} (raw XML), plus /healthz, /readyz and /metrics.
`,
	"dispatcher": `Usage: triggerflow dispatcher [--config FILE] [--admin-listen ADDR]

Runs the dispatcher: consumes SCW_TRIGGERS in 16 ordered lanes (durable pull consumers
shared by all replicas; a ticket's triggers are planned in the order they were stored),
enriches each trigger from SecureChange, matches the routes, runs the rewrite plugins,
records the plan on SCW_PLANS and publishes its operations on SCW_OPS.
`,
	"itsm-sync": `Usage: triggerflow itsm-sync [--config FILE] [--admin-listen ADDR]

Runs itsm-sync: 16 ordered lanes on SCW_OPS per outbound server (scw.op.itsm.<server>.<lane>.>)
and, when securechange.url is set, 16 for SecureChange write-backs; the operations of one
ticket and destination are performed one after the other, in order, by whichever replica.
Renders each operation's template, sends it with the server's auth, TLS, limits and
breaker, retries transient failures (honouring Retry-After), records successes in the
scw_done bucket, stores correlation values in scw_correlation, and publishes a result per
operation on SCW_RESULTS.
On SIGTERM, operations in flight get shutdown.drain_timeout to finish.
`,
	"notifier": `Usage: triggerflow notifier [--config FILE] [--admin-listen ADDR]

Runs the notifier: sends email operations (scw.op.email.>) over smtp.*, and alerts
notifications.on_failure (or a route's on_failure) on failed results and on triggers the
dispatcher dead-lettered, turning storms into digests.
`,
}

func serve(name string, args []string, stdout, stderr io.Writer) int {
	fs, f := newServeFlags(name)
	usage := func(w io.Writer) { fmt.Fprint(w, serveHelp[name], "\nFlags:\n"); printFlags(fs, w) }
	if code, done := parseFlags(fs, args, usage, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "triggerflow %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	// The checks of `config check`, limited to what this command uses, before fx builds
	// anything: problems are printed one per line, never inside fx's wrapping.
	cfg, problems, err := configcheck.Check(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow %s: %v\n", name, err)
		return 1
	}
	if cfg != nil {
		problems = concerning(problems, app.Services(name, cfg)...)
	}
	if len(problems) > 0 {
		printProblems(stderr, f.config, problems)
		fmt.Fprintf(stderr, "triggerflow %s: %d problem(s) in %s; not started\n", name, len(problems), f.config)
		return 1
	}
	if err := f.applyListen(name, cfg, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "triggerflow %s: %v\n", name, err)
		return 2
	}
	if (name == "all" || name == "ingress") && len(cfg.Ingress.Users) == 0 && !f.dev { // before anything starts or listens
		fmt.Fprintf(stderr, "triggerflow %s: %v\n", name, ingress.ErrNoUsers)
		return 1
	}
	fxApp := fx.New(app.Options(name, cfg, ingress.Options{Dev: f.dev})...)
	if err := fxApp.Err(); err != nil {
		fmt.Fprintf(stderr, "triggerflow %s: %v\n", name, dig.RootCause(err)) // the error, without fx's "could not build arguments…"
		return 1
	}
	fxApp.Run() // fx owns SIGINT/SIGTERM; stop hooks run in reverse start order
	return 0
}

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, configHelp)
			return 0
		}
		fmt.Fprint(stderr, configHelp)
		return 2
	}
	fs := flag.NewFlagSet("triggerflow config check", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (or give it as the argument)")
	noSecrets := fs.Bool("no-secrets", false, "do not read secrets (password/token environment variables and files, private keys): check a file away from where it runs")
	usage := func(w io.Writer) { fmt.Fprint(w, configHelp, "\nFlags:\n"); printFlags(fs, w) }
	// Flags may follow the file (`config check triggerflow.yaml --no-secrets`), as in
	// trace; one file at a time, so that none is taken as checked when it was not.
	pos, code, done := parseInterspersed(fs, args[1:], usage, stdout, stderr)
	if done {
		return code
	}
	path := *cfgPath
	switch {
	case len(pos) > 1:
		fmt.Fprintf(stderr, "triggerflow config check: one file at a time, got %d: %s\n", len(pos), strings.Join(pos, " "))
		return 2
	case len(pos) == 1 && path != "" && pos[0] != path:
		fmt.Fprintf(stderr, "triggerflow config check: two files, --config %s and %s: give one\n", path, pos[0])
		return 2
	case len(pos) == 1:
		path = pos[0]
	}
	if path == "" {
		path = defaultConfigPath()
	}
	cfg, problems, err := configcheck.Check(path)
	if err != nil {
		fmt.Fprintf(stderr, "triggerflow config check: %v\n", err)
		return 1
	}
	if *noSecrets {
		problems = slices.DeleteFunc(problems, func(p *config.Problem) bool { return p.Secret })
	}
	printProblems(stderr, path, problems)
	if cfg != nil {
		for _, w := range cfg.Warnings {
			loc := path
			if w.Line > 0 {
				loc = fmt.Sprintf("%s:%d", path, w.Line)
			}
			fmt.Fprintf(stderr, "%s: warning: %s\n", loc, w.Error())
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", path, len(problems))
		return 1
	}
	var notes []string
	if cfg.NATS.URL == "" {
		notes = append(notes, "nats.url is empty: each triggerflow process runs its own embedded nats-server (use `triggerflow all`, or give every `triggerflow <service>` process the same nats.url)")
	}
	if len(cfg.Ingress.Users) == 0 {
		notes = append(notes, "ingress.users is empty: the ingress starts only with --dev")
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	for _, n := range notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	return 0
}

const configHelp = `Usage: triggerflow config check [--no-secrets] [FILE]

Runs every check the services run at start-up, on the whole file: unknown keys, bad
values, route conditions (when), templates and their placeholders, servers, files and
secrets. Every problem is reported, one per line, as FILE:LINE: key.path: problem (a
template file's problems also name the line in the template); warnings as
FILE:LINE: warning: ... Exits 1 if there is any problem (warnings do not count), 0
otherwise. Each command checks, at start-up, the parts it uses.
`
