// Package securechangetest simulates Tufin SecureChange for tests, on both of its sides:
// its REST API (Server, below) and the way it runs a script trigger (Runner, at the end).
//
// Server is an in-memory SecureChange REST API: a real httptest server holding tickets
// as SecureChange returns them, that answers the reads and write-backs the securechange
// client makes the way SecureChange does.
//
// What it models (paths below Server.URL, …/securechangeworkflow/api/securechange):
//
//	GET  tickets/{id}.json, tickets/{id}         {"ticket":{…}}: the stored JSON, with
//	                                             its one-object-or-array collections as
//	                                             stored; a collection that changes size
//	                                             is written the SecureChange way (one
//	                                             element: an object, more: an array)
//	PUT  tickets/{id}/steps/{step}/tasks/{task}/fields[/]
//	     {"fields":{"field":[…]}} and …/fields/{field} {"field":{…}}: updates the
//	                                             fields by id (400 for an unknown id, a
//	                                             type that differs, an option that does
//	                                             not exist or a value of the wrong kind)
//	PUT  tickets/{id}/steps/{step}/tasks/{task}  {"task":{"id":…,"name":…,"status":"DONE",
//	                                             "fields":{"field":[…]}}}: the whole task,
//	                                             as the SDKs send it (400 without id or
//	                                             fields, or for another task's id); marks
//	                                             the task DONE and applies the fields;
//	                                             when every task of the step is DONE the
//	                                             ticket advances
//	PUT  tickets/{id}/steps/{step}/tasks/{task}/redo/{to_step_id}
//	     {"redo_step_comment":{"comment":…}}     back to an earlier step
//	GET  users/{id}.json, users/{id}             {"user":{…}} or, for a group,
//	                                             {"group":{…,"members":{"user":[…]}}}
//	                                             (PutUser, PutGroup; users.go)
//	PUT  tickets/{id}/reject[?handler_id={user}] {"reject_comment":{"comment":…}}:
//	                                             status "Ticket Rejected", no current step
//	POST tickets[/]  {"ticket":{"subject":…,"workflow":{"name":…},"requester"?,"priority"?,
//	     "steps":{"step":[{"name"?,"tasks":{"task":[{"fields":{"field":[…]}}]}}]}}}:
//	                                             a new ticket (id: the largest stored + 1),
//	                                             "In Progress", its one step (named as sent,
//	                                             else "Open request") current, one task
//	                                             ASSIGNED with the fields sent; 201, empty
//	                                             body, Location: <URL>/tickets/{id}
//	                                             (Created). 400 without a workflow name or
//	                                             subject, for another shape, more than one
//	                                             step or task, or a bad field or
//	                                             access-request row (create.go)
//	POST tickets/{id}/steps/{step}/tasks/{task}/comments {"comment":{"content":…}}:
//	                                             appends {content, created, task_name,
//	                                             type "normal", user, id} to the ticket's
//	                                             "comments" (Comments); 201, Location:
//	                                             <URL>/tickets/{id}/comments/{comment id}
//
// {step} is a step id or "current"; a write (a comment too) to another step than the current one, to a
// task that is DONE, or to a closed ticket is a 400. Errors have SecureChange's body,
// {"result":{"code":…,"message":…}}; bad credentials get 401 with an HTML page like
// SecureChange's; an unknown ticket 404.
//
// The workflow is simplified: a stored ticket lists its steps, and the steps after
// current_step are the ones still to come. GET shows only the steps reached so far
// (as SecureChange does: the last one is the current step), and advancing enters the
// next step of that list, or closes the ticket (status "Ticket Closed", SecureChange's
// statuses are in status.go) after the last. A redo
// marks the current step "redone" and enters a new instance of the target step (new
// ids, tasks ASSIGNED, the fields as last written); advancing from there re-enters the
// steps after it the same way.
//
// # Script triggers
//
// Runner runs a script the way SecureChange runs a script trigger: the ticket XML on
// stdin, SCW_EVENT in a minimal environment, the configured arguments on argv, and up to
// five attempts while the exit code is non-zero. The package also ships Tufin's sample
// mediator script (seed 000, repaired only where the web page that printed it broke it,
// testdata/README.md) and installs it the way a SecureChange admin does, by editing its
// five hardcoded settings (InstallMediator, MediatorSettings); the tests of the mediator
// scripts are in deploy/mediator.
package securechangetest
