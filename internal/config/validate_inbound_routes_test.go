package config_test

import "testing"

// TestInboundRoutesProblems: inbound_routes need a server with a callback endpoint and an
// action; a create is an inbound route's first action only, never an outbound route's,
// and names its workflow and subject; step guards only approve, reject, advance,
// update_fields and comment.
func TestInboundRoutesProblems(t *testing.T) {
	t.Setenv("TF_IN_SECRET", "hunter2")
	t.Setenv("TF_SC_PASSWORD", "x")
	const base = "securechange: {url: https://sc.example/securechangeworkflow/api/securechange, user: api, password_env: TF_SC_PASSWORD}\n" +
		"servers:\n" +
		"  snow: {base_url: https://snow.example, inbound: {auth: {bearer: {token_env: TF_IN_SECRET}}}}\n" +
		"  jira: {base_url: https://jira.example}\n"
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"server without inbound, unknown server, no actions", base + "inbound_routes:\n" +
			"  - {name: a, server: jira, actions: [{securechange: {advance: true}}]}\n" +
			"  - {name: b, server: nowhere, actions: [{securechange: {advance: true}}]}\n" +
			"  - {name: c, server: snow}\n",
			[]string{
				`6 inbound_routes[0].server: server "jira" has no callback endpoint: add servers.jira.inbound`,
				`7 inbound_routes[1].server: "nowhere" is not a configured server`,
				`8 inbound_routes[2].actions: an inbound route needs at least one action`,
			}},
		{"create second, create without workflow, step on a redo", base + "inbound_routes:\n" +
			"  - name: a\n    server: snow\n    actions:\n" +
			"      - securechange: {comment: hi}\n" +
			"      - securechange: {create: {subject: x}}\n" +
			"      - securechange: {redo: Approval, comment: back, step: Approval}\n",
			[]string{
				`10 inbound_routes[0].actions[1].securechange.create: a route creates a ticket with its first action`,
				`10 inbound_routes[0].actions[1].securechange.create.workflow: is required`,
				`11 inbound_routes[0].actions[2].securechange.step: guards approve, reject, advance, update_fields and comment only`,
			}},
		{"create in an outbound route", base + "routes:\n" +
			"  - name: a\n    on: {event: CREATE}\n    actions:\n" +
			"      - securechange: {create: {workflow: W, subject: S}}\n",
			[]string{`9 routes[0].actions[0].securechange.create: creates a ticket from an ITSM callback: it belongs in inbound_routes`}},
		{"two kinds in one securechange action", base + "inbound_routes:\n" +
			"  - {name: a, server: snow, actions: [{securechange: {approve: ok, comment: hi}}]}\n",
			[]string{`6 inbound_routes[0].actions[0].securechange: set exactly one of update_fields, approve, reject, advance, redo (with its comment), reject_ticket, comment and create`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yaml, tc.want) })
	}
}
