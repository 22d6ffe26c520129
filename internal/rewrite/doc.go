// Package rewrite is the request-rewrite plugin protocol of seed 004, with a change
// plan's operations as the request's resources: a Rewriter (New) runs the plugins of
// dispatcher.plugins, in their configured order, over each plan the dispatcher's routes
// built (Rewriter.Rewrite). The KVGroup text codec is the package kvgroup.
//
// # Transport
//
// A plugin is either a command or an HTTP endpoint. Its format is kvgroup (the default
// for a command) or json (the default for a url). A reply is at most 8 MiB. A run that
// lasts longer than the plugin's timeout (default 10s) fails.
//
//   - command: argv is the configured command, run in a process group of its own with
//     the dispatcher's environment and working directory. The input is written to its
//     stdin, its reply is read from stdout, stderr is captured (its first 2 KB go into
//     error messages). At the timeout the whole process group is killed with SIGKILL. A
//     process still holding stdout or stderr open 2s after the plugin exited or was
//     killed makes the run fail. The command is checked at start-up (New): it must
//     exist, be a regular file and be executable; a bare name is looked up in PATH.
//   - url: the input is POSTed with Content-Type application/json (format json) or
//     text/plain; charset=utf-8 (format kvgroup); a 2xx response's body is the reply
//     (of any other response, the first 2 KB of the body go into the error). TLS
//     certificates are verified against the system roots; redirects are not followed.
//
// # Input (format kvgroup)
//
// One `"" "" = { … }` group, with the header `# KVGROUP-V1.1`:
//
//	# KVGROUP-V1.1
//	"" "" = {
//	  "module" = "triggerflow"
//	  "plugin" = "<plugin name>"
//	  "firstrun" = "true|false"    # the trigger's first delivery and this plugin's first run
//	  "run" = "<n>"                # 1 for the first run, 2 for the first rerun, …
//	  "trigger" "" = {
//	    "trigger_id" = "<trigger id>"
//	    "event" = "CREATE|ADVANCE|…"
//	    "ticket" = "<ticket id>"
//	    "subject" = "…"
//	    "args" = "…"               # the mediator's args
//	    "script" = "…"             # the mediator's EXEC_SCRIPT
//	    "create_date" = "…"        # as SecureChange sent them
//	    "update_date" = "…"
//	    "current_stage" "" = { "id" = "…" "name" = "…" }       # each stage only if sent
//	    "completion_stage" "" = { "id" = "…" "name" = "…" }
//	    "open_request_stage" "" = { "id" = "…" "name" = "…" }
//	  }
//	  "ticket" "" = {
//	    "enriched" = "true|false"  # false: SecureChange was not asked; only id and
//	                               # subject (from the trigger) are set
//	    "id" = "…"  "subject" = "…"  "workflow" = "…"  "workflow_id" = "…"
//	    "requester" = "…"  "requester_id" = "…"  "priority" = "…"  "status" = "…"
//	    "domain" = "…"  "current_step" = "…"
//	    "fields" "" = {            # the fields of the latest step, first of each name
//	      "<field name>" = "<value>"    # as securechange.Ticket.Value gives it
//	    }
//	  }
//	  "request" "" = {
//	    "id" = "<plan id>"
//	    "workflow" = "…"
//	    "resource" "<operation id>" = {   # one per operation, in plan order
//	      "kind" = "itsm|securechange|email"
//	      "target" = "<server name>|securechange|smtp"
//	      "route" = "<route name>|plugin:<plugin name>"
//	      "action" = "<action name>"
//	      "mandatory" = "true|false"
//	      "group" = "<approval group>"  # "" when none
//	      "spec" = "<the operation's spec, as a JSON text>"   # "" when none
//	      "attr" "" = { "<key>" = "<value>" … }               # sorted by key
//	    }
//	  }
//	}
//
// Text that is not valid UTF-8 (which KVGroup cannot carry) has its bad bytes replaced
// by U+FFFD.
//
// # Output (format kvgroup)
//
//	"" "" = {
//	  "retval" = "0"               # mandatory; non-zero is failure
//	  "errmsg" = "…"               # optional; non-empty is failure (repeatable)
//	  "infomsg" = "…"              # optional, repeatable; recorded in the plan's info
//	  "changed" = "true|false"     # default true; false: the request part is ignored
//	  "rerun" = "true|false|auto"  # default false
//	  "retainResources" = "true|false"   # default false
//	  "groupApproval" "" = {       # optional: approval groups
//	    "group" "<group name>" = { "resource" = "<operation id or action>" … }
//	  }
//	  "request" "" = {
//	    "resource" "<operation id>|<empty>" = {
//	      "remove" = "true"        # remove it ("removed" is read the same)
//	      "kind" "target" "action" "mandatory" "group" "spec" "attr"   # as in the input
//	      "groupApproval" = "<group name>"   # the seed's spelling of "group"
//	      "autoselect" = "true|mandatory|none|false"
//	    }
//	  }
//	}
//
// As in the seed's examples, "resource" groups may also stand directly in the top
// group instead of inside "request"; both places are read, top group first; so may the
// top group's entries without their `"" "" = { … }` wrapper. Keys that are not listed
// here (the seed's "itemType", "password", …) are ignored.
//
// # Input and output (format json)
//
// The same structure as JSON objects. Input:
//
//	{"module": "triggerflow", "plugin": "<name>", "firstrun": true, "run": 1,
//	 "trigger": {"trigger_id": "…", "event": "…", "ticket": "…", "subject": "…",
//	             "args": "…", "script": "…", "create_date": "…", "update_date": "…",
//	             "current_stage": {"id": "…", "name": "…"}, …},
//	 "ticket": {"enriched": true, "id": "…", …, "fields": {"<name>": "<value>"}},
//	 "request": {"id": "<plan id>", "workflow": "…",
//	             "resources": [{"id": "…", "kind": "…", "target": "…", "route": "…",
//	                            "action": "…", "mandatory": false, "group": "",
//	                            "spec": {…}, "attrs": {"k": "v"}}]}}
//
// Output:
//
//	{"retval": 0, "errmsg": "", "infomsg": ["…"], "changed": true, "rerun": "auto",
//	 "retainResources": false,
//	 "groupApproval": [{"group": "g", "resources": ["<id or action>", …]}],
//	 "request": {"resources": [{"id": "…", "remove": true, "kind": "…", "target": "…",
//	             "action": "…", "mandatory": true, "group": "…", "spec": {…},
//	             "attrs": {…}, "autoselect": "true"}]}}
//
// In the output, booleans may also be the strings "true" and "false", retval a string
// of digits, infomsg and errmsg a single string or a list, rerun true, false or "auto",
// and spec a string holding the JSON object. A member that is null is taken as absent,
// except spec, where null clears the spec.
//
// # Semantics
//
// A resource with the id of an operation of the plan UPDATES it: each field present
// replaces the operation's (attr/attrs as a whole; spec "" or null clears it); absent
// fields are kept. route and action are an operation's identity and are never
// updated. A resource with an unknown id, or with no id, is ADDED: it needs a kind and,
// for itsm, a target (securechange and email default to the targets "securechange"
// and "smtp"); its route is "plugin:<plugin name>", its action the resource's "action"
// (default "<kind>-<n>", n its index in the reply), and, when the plugin gave no id,
// its id is events.OperationID(trigger id, "plugin:<plugin name>", action), so a rerun
// that returns the same resource updates it instead of adding it twice. Every
// operation, added or not, carries the plan's trigger id, ticket and event; plugins
// cannot change them.
//
//   - "changed" false: the plan is left as it is (resources and groupApproval ignored);
//     infomsg, errmsg, retval and rerun still count.
//   - "retainResources" true: only the returned resources are added, updated or removed.
//     false or absent: every operation that is not returned is removed. A plugin that
//     means to leave the plan alone must say changed=false or retainResources=true.
//   - "remove" true: the operation is removed.
//   - Mandatory operations are never removed by a plugin, whether asked with "remove"
//     or by not being returned, and never made optional: the refusal is logged and
//     noted in the plan's info ("plugin X tried to remove mandatory operation Y; kept").
//     A plugin may make an operation mandatory.
//   - groupApproval (the top-level list, or a resource's "group"/"groupApproval") sets
//     Operation.Group: operations sharing a group succeed or fail together. The seed's
//     "00000000-0000-0000-0000-000000000000" and "" clear it. A top-level entry names
//     operation ids, or the action of an operation this plugin added.
//   - "autoselect": in the seed, a resource the plugin selected on its own from ticket
//     attributes (rather than one the requester chose). Here every operation of the
//     plan is carried out, so it does not change what is done: "true" records the
//     selection as Attrs["autoselect"] = "true" (kept in the plan for auditors and
//     passed to templates); "mandatory" does the same and makes the operation
//     mandatory; "none", "false" and "" delete the attribute.
//   - "rerun": true runs the plugin again, auto runs it again only if this run changed
//     the plan (a spec is compared as a JSON value: its white space, member order and
//     string escapes do not count), false (the default) moves on to the next plugin.
//     A plugin runs at most max_runs times (default 3) per trigger; a rerun asked for
//     beyond that is not done and is noted in the plan's info. A rerun sees the plan as
//     rewritten so far.
//   - infomsg lines go to the plan's info as "plugin <name>: <message>".
//
// # Errors
//
// Every error names the plugin. A non-empty errmsg or a non-zero retval fails the plan
// with a permanent error (failure.Permanent) carrying the plugin's message: the trigger
// is dead-lettered with that reason. So does an HTTP 4xx (except 408 and 429), a 3xx,
// and a reply that can be read but breaks the contract (an added resource without a
// kind, a spec that is not a JSON object, a groupApproval naming no operation, …). A
// timeout, a command that cannot be started, exits non-zero or dies by a signal, output
// that cannot be read (not KVGroup or JSON, no retval, more than 8 MiB), a network
// error and an HTTP 5xx, 408 or 429 are transient: the trigger is retried.
package rewrite
