package dispatcher_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// FuzzInboundMatch compiles an inbound route's condition from arbitrary text and matches
// it against an arbitrary stored callback body (a message published by hand need not be
// what the ingress checked). Nothing may panic; a compile error names the route; a
// run-time error or a body that is not a JSON object is an error naming the route or the
// callback, never a match.
func FuzzInboundMatch(f *testing.F) {
	f.Add(`callback.approval == "approved"`, `{"approval":"approved","sys_id":"9d1e"}`)
	f.Add(`path("a.b.0") == "1" && record != ""`, `{"a":{"b":[1]}}`)
	f.Add(`callback.state > 2`, `{"state":"3"}`)
	f.Add(`"approval" in callback.changed`, `{"changed":["approval","state"]}`)
	f.Add(`callback.x.y == 1`, `[1,2]`)
	f.Add(``, `{"a":`)
	f.Fuzz(func(t *testing.T, when, body string) {
		rs, err := dispatcher.CompileInboundRoutes([]config.InboundRoute{{Name: "fuzz", Server: "snow", When: when,
			Actions: []config.Action{{SecureChange: &config.SecureChangeAction{Advance: true}}}}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "inbound_routes[0] (fuzz).when: ") {
				t.Fatalf("compile error without the route: %v", err)
			}
			return
		}
		cb := events.InboundEvent{ID: "snow-x", Server: "snow", Body: json.RawMessage(body), Record: &events.InboundRecord{Key: "sys_id", Value: "9d1e"}}
		ms, err := rs.Match(cb)
		if err != nil {
			if len(ms) != 0 || !(strings.Contains(err.Error(), "inbound_routes[0] (fuzz).when") || strings.Contains(err.Error(), "callback snow-x")) {
				t.Fatalf("match error %v with %d matches", err, len(ms))
			}
			return
		}
		if len(ms) > 1 {
			t.Fatalf("%d matches of one route", len(ms))
		}
	})
}
