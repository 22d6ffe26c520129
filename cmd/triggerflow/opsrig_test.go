package main

// The pipeline of the operator commands' tests (trace, redrive; replay and resend can use
// it): `triggerflow all` in-process (testrig), one ITSM server, triggers through the
// ingress.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/configcheck"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/ingress"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// opsPipeline is `triggerflow all` in-process (ingress, dispatcher, itsm-sync; testrig)
// on a JetStream of its own, with one ITSM server, for the operator commands' tests.
type opsPipeline struct {
	*testrig.Rig                  // NATS, Ingress, JS
	ITSM         *httptest.Server // the ITSM server "snow"
	Mail         *smtptest.Server // with the notifier only
}

// startOpsPipeline starts the pipeline; handler is the ITSM server (server "snow").
// CREATE creates a change (correlating its sys_id), ADVANCE adds a work note to it. With
// notifier, the notifier runs too, alerting ops@example.com on an SMTP test server.
func startOpsPipeline(t *testing.T, handler http.HandlerFunc, notifier bool) *opsPipeline {
	t.Helper()
	itsm := httptest.NewServer(handler)
	t.Cleanup(itsm.Close)
	yaml := fmt.Sprintf(`log: {level: error}
ingress: {instance: ingress-0}
dispatcher: {instance: dispatcher-0}
itsm_sync: {instance: itsm-sync-0}
servers:
  snow:
    base_url: %q
    retry: {attempts: 3, backoff: 50ms, max_backoff: 100ms}
routes:
  - name: open-change
    on: {event: CREATE}
    actions:
      - name: create
        itsm:
          server: snow
          method: POST
          path: /api/now/table/change_request
          body: '{"short_description":"#ticket_subject#","u_ticket":"#ticket_id#"}'
          response:
            correlate: {sys_id: "#result.sys_id#"}
  - name: step-completed
    on: {event: ADVANCE}
    actions:
      - name: work-note
        itsm:
          server: snow
          method: PATCH
          path: /api/now/table/change_request/#correlation.sys_id#
          body: '{"work_notes":"#ticket_id# advanced (#trigger.update_date#)"}'
`, itsm.URL)
	var mail *smtptest.Server
	if notifier {
		mail = smtptest.New(t)
		yaml += fmt.Sprintf(`smtp: {host: %q, port: %d, starttls: false, from: "triggerflow@example.com"}
notifications: {on_failure: ["ops@example.com"]}
notifier: {instance: notifier-0}
`, mail.Host, mail.Port)
	}
	path := filepath.Join(t.TempDir(), "triggerflow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, problems, err := configcheck.Check(path)
	if err != nil || len(problems) > 0 {
		t.Fatalf("config: %v %v", err, problems)
	}
	g := testrig.Start(t, "all", cfg, fx.Replace(ingress.Options{Dev: true}))
	return &opsPipeline{Rig: g, ITSM: itsm, Mail: mail}
}

// trigger posts a trigger of ticket with this updateDate through the ingress.
func (p *opsPipeline) trigger(t *testing.T, event, ticket, update string) {
	t.Helper()
	xml := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>` + ticket + `</id>
    <subject>Allow web to db</subject>
    <createDate>1763884800000</createDate>
    <updateDate>` + update + `</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
</ticket_info>
`
	resp, err := http.Post(p.Ingress+"/v1/triggers/"+event, "application/xml", strings.NewReader(xml))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", event, resp.StatusCode, b)
	}
}

// waitResults waits until the ticket has n results with this status.
func (p *opsPipeline) waitResults(t *testing.T, ticket string, status events.ResultStatus, n int) {
	t.Helper()
	natstest.CheckFor(t, testrig.Patience, 20*time.Millisecond, func() error {
		if got := len(p.Msgs(events.StreamResults, "scw.result.*."+string(status)+"."+ticket+".*")); got != n {
			return fmt.Errorf("%d %s results of ticket %s, want %d", got, status, ticket, n)
		}
		return nil
	})
}
