package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

// natsCLI is the stock nats CLI, built from the module proxy.
const natsCLI = "go run github.com/nats-io/natscli/nats@v0.5.1"

// TestFailureAlertRedrive: an operation the ITSM server refuses is dead-lettered; the
// notifier's alert email carries the nats commands; once the server is fixed, running
// the alert's redrive command verbatim (stock CLI, real nats-server) delivers it.
func TestFailureAlertRedrive(t *testing.T) {
	ns := natstest.StartProcess(t)
	var fixed atomic.Bool
	var posts atomic.Int32
	itsm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), "refuse-always") || !fixed.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid assignment group"}}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":{"sys_id":"abc"}}`)
	}))
	t.Cleanup(itsm.Close)
	mail := smtptest.New(t)

	yaml := func(admin string) string {
		return fmt.Sprintf(`nats: {url: %q}
admin: {listen: %q}
log: {level: warn}
servers:
  snow: {base_url: %q}
smtp: {host: %q, port: %d, starttls: false, from: "triggerflow@example.com"}
notifications: {on_failure: ["ops@example.com"]}
`, ns.URL(), admin, itsm.URL, mail.Host, mail.Port)
	}
	a1, a2 := freeAddr(t), freeAddr(t)
	startTriggerflow(t, "itsm-sync", yaml(a1), a1)
	startTriggerflow(t, "notifier", yaml(a2), a2)

	spec, _ := json.Marshal(events.ITSMSpec{Server: "snow", Method: "POST", Path: "/api/now/table/change_request", Body: `{"t":"#ticket_id#"}`})
	trig := events.NewTriggerEvent(events.Create, events.TicketInfo{ID: "4242", Subject: "s", UpdateDate: "1"}, []byte("<ticket_info/>"), "", "")
	o := events.Operation{ID: events.OperationID(trig.ID, "open-change", "create"), Kind: events.OpITSM, Target: "snow",
		Route: "open-change", Action: "create", TriggerID: trig.ID, Ticket: "4242", Event: events.Create, Spec: spec,
		Context: &events.OpContext{Trigger: trig}}
	nc := natstest.Connect(t, ns.URL())
	b, _ := o.Marshal()
	m := nats.NewMsg(o.Subject())
	m.Data = b
	m.Header.Set(nats.MsgIdHdr, o.ID)
	js, _ := nc.JetStream()
	if _, err := js.PublishMsg(m); err != nil {
		t.Fatal(err)
	}

	alert := mail.WaitMessages(t, 1, 2*time.Minute)[0]
	raw, _ := io.ReadAll(alert.Parsed.Body)
	body := string(raw)
	if strings.EqualFold(alert.Parsed.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		body = string(dec)
	}
	for _, want := range []string{"Ticket: 4242", "Attempts: 1", "Invalid assignment group", "itsm operation create",
		"later operations of ticket 4242 for the same destination are parked behind it", "-H 'Scw-Skip:true'"} {
		if !strings.Contains(body, want) {
			t.Fatalf("alert lacks %q:\n%s", want, body)
		}
	}
	// Every command names the server (nats.url here), so it runs as written.
	natsServer := "nats --server '" + ns.URL() + "' "
	var redrive string
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, natsServer+"sub ") && strings.Contains(l, "# redrive it"):
			redrive = l
		case strings.HasPrefix(l, natsServer+"sub --stream "): // what the alert says to look at, run as written
			cmdline := strings.Replace(l, "nats ", natsCLI+" ", 1)
			out, err := repoShell(cmdline)
			if err != nil || !strings.Contains(string(out), "4242") || strings.Contains(string(out), "terminal") {
				t.Fatalf("the alert's %q: %v\n%s", l, err, out)
			}
		}
	}
	if redrive == "" {
		t.Fatalf("alert has no redrive command:\n%s", body)
	}
	fixed.Store(true)
	cmdline := strings.ReplaceAll(redrive, "nats ", natsCLI+" ")
	cmd := exec.Command("bash", "-c", cmdline)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	js2, _ := jetstream.New(nc)
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if n := len(natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.succeeded.4242.*")); n != 1 {
			return fmt.Errorf("%d succeeded results", n)
		}
		return nil
	})
	if n := posts.Load(); n != 2 {
		t.Fatalf("the ITSM server saw %d requests, want 2 (the refused one and the redriven one)", n)
	}

	// A create the server keeps refusing parks its ticket's next operation; the alert's
	// skip command, run verbatim, skips it and releases the parked one.
	head := events.Operation{ID: events.OperationID(trig.ID, "open-change", "create-2"), Kind: events.OpITSM, Target: "snow",
		Route: "open-change", Action: "create-2", TriggerID: trig.ID, Ticket: "4243", Event: events.Create, Context: &events.OpContext{Trigger: trig}}
	head.Spec, _ = json.Marshal(events.ITSMSpec{Server: "snow", Method: "POST", Path: "/api/now/table/change_request", Body: `{"t":"refuse-always"}`})
	next := head
	next.ID, next.Action = events.OperationID(trig.ID, "open-change", "note"), "note"
	next.Spec, _ = json.Marshal(events.ITSMSpec{Server: "snow", Method: "POST", Path: "/api/now/table/change_request", Body: `{"t":"#ticket_id#"}`})
	for _, o := range []events.Operation{head, next} {
		b, _ := o.Marshal()
		m := nats.NewMsg(o.Subject())
		m.Data = b
		m.Header.Set(nats.MsgIdHdr, o.ID)
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	var skip string
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		for _, a := range mail.Messages() {
			raw, _ := io.ReadAll(a.Parsed.Body)
			text := string(raw)
			if strings.EqualFold(a.Parsed.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
				dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(text)))
				text = string(dec)
			}
			if !strings.Contains(text, "Ticket: 4243") {
				continue
			}
			for _, l := range strings.Split(text, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "nats --server '"+ns.URL()+"' sub ") && strings.Contains(l, "Scw-Skip:true") {
					skip = l
				}
			}
		}
		if skip == "" {
			return fmt.Errorf("no alert with a skip command for ticket 4243 yet")
		}
		return nil
	})
	natstest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := len(natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.parked.4243.*")); n != 1 {
			return fmt.Errorf("%d parked results", n)
		}
		return nil
	})
	cmd = exec.Command("bash", "-c", strings.ReplaceAll(skip, "nats ", natsCLI+" "))
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", skip, err, out)
	}
	natstest.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		s := natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.skipped.4243.*")
		ok := natstest.Msgs(t, js2, events.StreamResults, "scw.result.itsm.succeeded.4243.*")
		if len(s) != 1 || len(ok) != 1 {
			return fmt.Errorf("%d skipped, %d succeeded results for ticket 4243", len(s), len(ok))
		}
		return nil
	})
}
