package securechangetest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// TestFieldShapes: the simulator checks a field write against the SDK's shape
// of its type on its own: a date, time or hyperlink under "text" is refused,
// as is a badly formatted date or time, and any write to a read-only field.
func TestFieldShapes(t *testing.T) {
	t.Parallel()
	const ticket = `{"ticket": {"id": 5, "current_step": {"id": 1, "name": "S"},
	  "steps": {"step": {"id": 1, "name": "S", "tasks": {"task": {"id": 11, "status": "ASSIGNED", "fields": {"field": [
	    {"@xsi.type": "date", "id": 1, "name": "D", "value": "2025-12-31"},
	    {"@xsi.type": "time", "id": 2, "name": "T", "value": "22:30"},
	    {"@xsi.type": "hyperlink", "id": 3, "name": "L", "url": "https://a"},
	    {"@xsi.type": "text_field", "id": 4, "name": "RO", "text": "x", "read_only": true},
	    {"@xsi.type": "text_field", "id": 5, "name": "RW", "text": "x", "read_only": false}]}}}}}}}`
	cases := []struct {
		field, want string // want: a part of the error, "" for 200
	}{
		{`{"@xsi.type":"date","id":1,"name":"D","value":"2026-01-15"}`, ""},
		{`{"@xsi.type":"date","id":1,"name":"D","text":"2026-01-15","value":"2025-12-31"}`, `its value goes in \"value\", not \"text\"`},
		{`{"@xsi.type":"date","id":1,"name":"D","text":"2026-01-15"}`, `not \"text\"`},
		{`{"@xsi.type":"date","id":1,"name":"D","value":"15/01/2026"}`, "is not a valid date"},
		{`{"@xsi.type":"time","id":2,"name":"T","value":"06:05"}`, ""},
		{`{"@xsi.type":"time","id":2,"name":"T","text":"06:05"}`, `not \"text\"`},
		{`{"@xsi.type":"time","id":2,"name":"T","value":"6pm"}`, "is not a valid time"},
		{`{"@xsi.type":"hyperlink","id":3,"name":"L","url":"https://b"}`, ""},
		{`{"@xsi.type":"hyperlink","id":3,"name":"L","text":"https://b"}`, `its value goes in \"url\", not \"text\"`},
		{`{"@xsi.type":"text_field","id":4,"name":"RO","text":"y"}`, `Field \"RO\" is read only`},
		{`{"@xsi.type":"text_field","id":5,"name":"RW","text":"y","read_only":false}`, ""},
	}
	for _, tc := range cases {
		s := securechangetest.New(t)
		s.Put([]byte(ticket))
		code, body := call(t, s, http.MethodPut, "/tickets/5/steps/1/tasks/11/fields", `{"fields":{"field":[`+tc.field+`]}}`)
		switch {
		case tc.want == "" && code != http.StatusOK:
			t.Errorf("%s: %d %s, want 200", tc.field, code, body)
		case tc.want != "" && (code != http.StatusBadRequest || !strings.Contains(body, tc.want)):
			t.Errorf("%s: %d %s, want 400 with %s", tc.field, code, body, tc.want)
		}
	}
}
