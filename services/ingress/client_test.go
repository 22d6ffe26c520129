package ingress_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/pkg/events"
)

const (
	testUser     = "mediator"
	testPassword = "correct horse battery staple"
)

// rig is the ingress under test (testrig.Start) and an HTTP client for it.
type rig struct {
	*testrig.Rig
	URL  string // the ingress's base URL, http://host:port (a test may change its scheme)
	http *http.Client
}

// startIngress runs the ingress against natsURL (or a JetStream of its own when empty),
// listening on a random port, with one user (testUser); mutate adjusts the config, extra
// are more fx options (e.g. fx.Replace(ingress.Options{…})).
func startIngress(t testing.TB, natsURL string, mutate func(*config.Config), extra ...fx.Option) *rig {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.Ingress.Listen = "127.0.0.1:0"
	cfg.Ingress.Users = []config.User{{Name: testUser, PasswordFile: pwFile}}
	cfg.Log.Level = "info"
	if mutate != nil {
		mutate(cfg)
	}
	g := testrig.Start(t, "ingress", cfg, extra...)
	return &rig{Rig: g, URL: g.Ingress, http: &http.Client{Timeout: 30 * time.Second}}
}

// response is what the ingress answered.
type response struct {
	Status int
	Body   []byte
	Reply  struct {
		Output string `json:"output"`
		Error  *struct {
			Output     string `json:"output"`
			ReturnCode int    `json:"returnCode"`
		} `json:"error"`
		ID     string `json:"id"`
		Stored bool   `json:"stored"`
	}
	Header http.Header
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// do sends a request with the test credentials unless the caller set Authorization.
func (g *rig) do(req *http.Request) response {
	g.T().Helper()
	if req.Header.Get("Authorization") == "" && req.Header.Get("X-No-Auth") == "" {
		req.SetBasicAuth(testUser, testPassword)
	}
	req.Header.Del("X-No-Auth")
	res, err := g.http.Do(req)
	if err != nil {
		g.T().Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Body: b, Header: res.Header}
	_ = json.Unmarshal(b, &out.Reply)
	return out
}

func (g *rig) post(path, contentType string, body []byte) response {
	g.T().Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return g.do(req)
}

// postMediator posts a body exactly as the seed mediator builds it (no escaping).
func (g *rig) postMediator(event, xml, args, script string) response {
	g.T().Helper()
	return g.post("/trigger_file", "application/json", mediatorBody(event, xml, args, script))
}

func mediatorBody(event, xml, args, script string) []byte {
	return []byte("{ \"ticket_info\":\"" + base64.StdEncoding.EncodeToString([]byte(xml)) + "\",\n" +
		"\"event\":\"" + event + "\",\n" +
		"\"args\":\"" + args + "\",\n" +
		"\"script\":\"" + script + "\"\n}")
}

// msgs is the number of triggers stored.
func (g *rig) msgs() uint64 { return g.Count(events.StreamTriggers) }

// stored returns every event in SCW_TRIGGERS, in order; each must carry its id as
// Nats-Msg-Id and trigger id header.
func (g *rig) stored() []events.TriggerEvent {
	g.T().Helper()
	var out []events.TriggerEvent
	for _, m := range g.Msgs(events.StreamTriggers, "") {
		ev, err := events.UnmarshalTriggerEvent(m.Data)
		if err != nil {
			g.T().Fatalf("seq %d: %v", m.Sequence, err)
		}
		if m.Header.Get("Nats-Msg-Id") != ev.ID || m.Header.Get(events.HdrTriggerID) != ev.ID {
			g.T().Fatalf("seq %d: headers %v do not carry id %s", m.Sequence, m.Header, ev.ID)
		}
		out = append(out, ev)
	}
	return out
}

func ticketXML(id, update string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>` + id + `</id>
    <subject>Allow web to db</subject>
    <createDate>1763884800000</createDate>
    <updateDate>` + update + `</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
</ticket_info>
`
}
