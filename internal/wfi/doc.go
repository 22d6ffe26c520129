// Package wfi renders payload templates compatible with Tufin's Workflow
// Integrator (WFI): HTTP bodies, paths, headers and response mappings for
// itsm-sync, subjects and bodies of emails for the notifier.
//
// # Placeholders
//
// A WFI template pastes in unchanged: #name# placeholders, typically inside
// JSON string values:
//
//	{"short_description": "SecureChange ticket #ticket_id#: #ticket_subject#"}
//
// A name is a letter or '_' followed by letters, digits, '_', ' ', '.', '-'
// and ':', at most 128 bytes, not ending with a space, on one line. "##" is
// a literal '#'. A '#' that does not start a valid placeholder ("#123",
// "# heading", "color:#fff;", a lone '#') stays literal. A valid placeholder
// that resolves to nothing is an error (a *MissingError, wrapping
// ErrMissing): the operation fails, it is never sent with a hole in it.
//
// Values are escaped for where they are pasted (Escape): EscapeJSON writes
// the content of a JSON string (encoding/json's escaping without the quotes
// and without HTML escaping), EscapeHTML html.EscapeString, EscapeURL
// url.PathEscape, EscapeNone nothing.
//
// A name resolves, in this order (WFI's: custom placeholders first, then
// predefined ones, then ticket fields), from:
//
//  1. custom placeholders (config): name -> template, which may use any
//     placeholder, other custom ones included (a cycle is an error that
//     wraps ErrCycle and names the cycle). A custom placeholder overrides a
//     predefined placeholder or a ticket field of the same name; inside its
//     own template (directly or through other custom placeholders) the name
//     is what it overrides, so "ticket_subject": "[SC] #ticket_subject#"
//     wraps the predefined value. A custom value is rendered unescaped,
//     then escaped once, where it is pasted;
//  2. the predefined placeholders below;
//  3. ticket fields, by field name: the current task's fields first, then
//     the current step's other tasks, then every step from the latest to
//     the first (a redone step's latest occurrence wins). A field's value
//     is its text; "true"/"false" for a checkbox and for an approve_reject
//     decision ("" while undecided); the selection of a drop_down_list; the
//     selected options of a multiple_selection joined by ", " (date and time
//     from "value", hyperlink from "url": securechange.FieldTypes). Fields of other
//     types (multi_access_request, ..., unknown ones) have no value here;
//     {{.Ticket.FieldRaw "Name"}} prints their JSON;
//  4. the prefixed namespaces, last, as before the order changed: a custom
//     placeholder or a field whose name starts with "correlation.",
//     "result.", "attr." or "trigger." hides the namespace's value.
//
// Before this release triggerflow looked predefined placeholders up first,
// then fields, then custom placeholders.
//
// The namespaces:
//
//	correlation.<key>  a value stored in scw_correlation for this ticket and server (correlation.sys_id)
//	result.<path>      a gjson path into the response being mapped: a string as is, null as "",
//	                   anything else as its JSON text. A path not found at the top is also looked
//	                   up under a top-level "result", ServiceNow's wrapper: result.sys_id reads
//	                   {"result": {"sys_id": …}}, result.0.number reads {"result": [{"number": …}]}
//	attr.<key>         the operation's attrs (set by the route or a plugin)
//	trigger.<key>      the trigger: event, id, args, script, ticket_id, subject, create_date,
//	                   update_date; current_stage, completion_stage, open_request_stage (the
//	                   stage's name; append .id or .name); any other element of the ticket_info
//	                   XML (its text; the last one of that name)
//
// A predefined placeholder that has no value here (e.g. workflow_name
// without an enriched ticket) falls through to fields. A gjson path
// with characters a #name# cannot hold (#, (, ", @, |) is written
// {{ph `result.items.#(name=="x").id`}}.
//
// Predefined placeholders ("ticket" is the enriched ticket; "missing" means
// the name means nothing here and rendering fails; an existing but empty
// source gives ""):
//
//	name                           value                                                                missing when
//	ticket_id                      the ticket's id (ticket, else trigger)                               never (a trigger has one)
//	ticket_subject                 the subject (ticket, else trigger)                                   never
//	workflow_name                  the workflow's name                                                  no ticket
//	ticket_requester               the requester's user name                                            no ticket
//	ticket_requester_full_name     the ticket JSON's requester_full_name, else the user name            no ticket
//	ticket_requester_email         the ticket JSON's requester_email (SecureChange's API has none:      no ticket, or no e-mail
//	                               a rewrite plugin or a later enrichment may add it)
//	ticket_priority                the priority                                                         no ticket
//	ticket_status                  the status ("In Progress", "Ticket Closed", ...)                     no ticket
//	ticket_domain                  the domain name                                                      no ticket
//	step_name                      the current step's name (ticket, else the trigger's current_stage;   no ticket and no current_stage
//	                               "" for a closed ticket)
//	current_step_id                the current step's id (likewise)                                     no ticket and no current_stage
//	previous_step_name             triggerflow's addition: the step before the current one (on          no ticket and no completion_stage
//	                               ADVANCE, the step just completed; for a closed ticket its last step;
//	                               without a ticket, the trigger's completion_stage)
//	current_task_id                the current step's first task not DONE, else its first task          no ticket
//	assignee                       that task's assignee                                                 no ticket
//	reject_reason                  the reason of the latest approve_reject field that rejects, else     no ticket
//	                               the latest comment of type reject
//	redo_reason                    the latest comment of type redo                                      no ticket
//	automatic_step_failure_reason  the latest comment whose type contains "fail"                        no ticket
//	ticket_start_time              the trigger's createDate as yyyy-MM-dd HH:mm:ss UTC (as given if it  no date anywhere
//	                               is not epoch milliseconds), else the ticket JSON's create_date
//	ticket_update_time             likewise with updateDate / update_date                               no date anywhere
//	current_time                   Data.Now as yyyy-MM-dd HH:mm:ss, UTC                                 never
//	date_only                      Data.Now as yyyy-MM-dd, UTC                                          never
//	latest_comment_content         the latest comment's text                                            no ticket
//	ticket_comments                every comment, "user: content", one per line                         no ticket
//	event                          the trigger (CREATE, ADVANCE, ...)                                   never (from an operation)
//	trigger_id                     the trigger's id (also the correlation id of every message)          never (from an operation)
//
// WFI's ticket_url is not provided: nothing in the trigger or the ticket
// says under which address users reach SecureChange; a custom placeholder
// can build it (e.g. "https://sc.example/securechangeworkflow/pages/myRequest/myRequestsMain.seam?ticketId=#ticket_id#").
//
// # Go templates
//
// The same text may hold text/template actions. Dot is a View (.Ticket,
// .Trigger, .Attrs, .Correlation, .Now; .Ticket is nil without
// enrichment), with missingkey=error, and these functions:
//
//	ph "name"      the placeholder's value; an error if it has none
//	raw "name"     the value, printed unescaped
//	has "name"     whether the placeholder has a value
//	field "Name"   a ticket field's value by name (fields only)
//	json v         v as JSON string content; html v; urlquery v
//	default d v    v, or d when v is empty;   join sep list;   upper, lower, trim
//
// Everything an action prints is escaped for the template's mode, like a
// #placeholder#: {{.Ticket.Subject}} in a JSON template is JSON-escaped.
// Not escaped again: raw, and the escaping function of the template's own
// mode (json in a JSON template, html in HTML, urlquery in URL). Example:
//
//	"description": "{{with .Ticket}}{{range .Comments}}{{.User}}: {{.Content}}\n{{end}}{{end}}"
//
// Rendering is a single pass: before parsing, each #name# outside an action
// becomes {{ph "name"}} and "##" a '#', then text/template parses the result
// once. Values are never parsed: ticket data holding "#x#" or "{{" is
// printed literally. Errors name the template and the line (a column is
// approximate on a line with #placeholders#).
package wfi
