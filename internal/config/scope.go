package config

import "strings"

// Services are the services that read the config, as `triggerflow <command>` names them.
var Services = []string{"ingress", "dispatcher", "itsm-sync", "notifier"}

// Concerns reports whether a problem stops the start of service (one of Services): each
// service starts on what it reads, so a problem in a part it never uses (the ingress and
// smtp.tls_config.ca_file) does not stop it. Problems with the file itself (YAML syntax,
// unknown keys, an empty file) and with the parts every service reads (log, nats,
// streams, shutdown, tracing) concern every service. `config check` reports every problem.
func (p *Problem) Concerns(service string) bool {
	path := p.Path
	if p.Path == "" {
		return true
	}
	top := path
	if i := strings.IndexAny(path, ".["); i >= 0 {
		top = path[:i]
	}
	switch top {
	case "log", "nats", "streams", "shutdown", "tracing":
		return true
	case "ingress":
		return service == "ingress"
	case "admin": // the operational listener of the commands without the ingress, and
		// admin.pprof's for every command
		return service != "ingress" || strings.HasPrefix(path, "admin.pprof")
	case "securechange": // enrichment, write-backs, requester/handler addresses
		return service == "dispatcher" || service == "itsm-sync" || service == "notifier"
	case "servers":
		return service == "dispatcher" || service == "itsm-sync"
	case "dispatcher":
		return service == "dispatcher"
	case "itsm_sync":
		// The dispatcher parses the custom placeholders with every template; the
		// notifier renders emails with them.
		return service == "itsm-sync" || (service != "ingress" && strings.HasPrefix(path, "itsm_sync.placeholders"))
	case "routes":
		// The dispatcher plans the routes; the notifier reads their on_failure lists.
		return service == "dispatcher" || (service == "notifier" && strings.Contains(path, "].on_failure"))
	case "smtp", "notifications", "notifier":
		return service == "notifier"
	}
	return true
}
