package config

import (
	"cmp"
	"fmt"
	"strings"
)

// warnings lists what a valid config does that its author may not expect.
func (c *Config) warnings() []*Problem {
	var out []*Problem
	warn := func(path, msg string) { out = append(out, &Problem{Path: path, Msg: msg}) }
	unused := func(path string, set bool, why string) {
		if set {
			warn(path, "has no effect any more and can be removed: "+why)
		}
	}
	const lanes = "operations are performed in ordered lanes, one at a time per lane"
	unused("dispatcher.pull_batch", c.Dispatcher.PullBatch != 0, "triggers are planned in ordered lanes, one at a time per lane")
	unused("dispatcher.concurrency", c.Dispatcher.Concurrency != 0, "triggers are planned in ordered lanes, one at a time per lane")
	unused("itsm_sync.pull_batch", c.ITSMSync.PullBatch != 0, lanes)
	unused("itsm_sync.wait_for_create", c.ITSMSync.WaitForCreate != 0, "an update waits for its create by being behind it in its lane")
	unused("itsm_sync.wait_poll", c.ITSMSync.WaitPoll != 0, "an update waits for its create by being behind it in its lane")
	unused("notifier.pull_batch", c.Notifier.PullBatch != 0, lanes)

	c.Tracing.warnings(warn)
	if c.Streams.TriggerMaxAge != 0 {
		warn("streams.trigger_max_age", "is deprecated: write streams.limits.SCW_TRIGGERS.max_age instead (it means the same)")
	}

	for i, r := range c.Routes {
		for j, a := range r.Actions {
			if a.Email != nil && !c.SMTP.Enabled() {
				// Without smtp.host no notifier runs (triggerflow all starts none; a
				// `triggerflow notifier` refuses to start): the email waits, unsent.
				warn(fmt.Sprintf("routes[%d].actions[%d].email", i, j), "no smtp.host is configured: no notifier runs, and this email would be planned and wait, unsent, until one does")
			}
			if a.ITSM == nil || a.ITSM.Lookup != nil || !CreateLike(a.ITSM.Method, a.ITSM.Path) {
				continue
			}
			path := fmt.Sprintf("routes[%d].actions[%d].itsm", i, j)
			warn(path, fmt.Sprintf("a create (%s %s) without a lookup: if a replica dies (kill -9, node lost) after the server accepted it but before it was recorded, "+
				"it is sent again and the server gets a duplicate unless it honours the Idempotency-Key header; "+
				"add lookup: {path: …, found: …} so a create whose outcome is unknown is looked up first (see README, \"Unknown outcomes\")",
				strings.ToUpper(cmp.Or(a.ITSM.Method, "POST")), a.ITSM.Path))
		}
	}
	return out
}

// CreateLike reports whether an itsm call creates a record: a POST whose path does not
// name one already (no #correlation.…# placeholder in it).
func CreateLike(method, path string) bool {
	return strings.EqualFold(cmp.Or(method, "POST"), "POST") && !strings.Contains(path, "#correlation.")
}
