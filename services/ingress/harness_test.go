package ingress_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/ingress"
)

const (
	testUser     = "mediator"
	testPassword = "correct horse battery staple"
)

// rig is a running ingress (the real fx module) on a real JetStream.
type rig struct {
	t    testing.TB
	App  *fxtest.App
	Logs *natstest.LogBuffer // everything the ingress logged
	URL  string              // http://host:port
	JS   jetstream.JetStream
	Cfg  *config.Config
	http *http.Client

	stopped bool
}

// startIngress runs the ingress module against natsURL (or a fresh embedded JetStream when
// empty), listening on a random port.
func startIngress(t testing.TB, natsURL string, mutate func(*config.Config), opts ...ingress.Options) *rig {
	t.Helper()
	if natsURL == "" {
		natsURL = natstest.RunJetStream(t).ClientURL()
	}
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
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	var o ingress.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	var srv *ingress.Server
	logs := &natstest.LogBuffer{}
	app := fxtest.New(t,
		fx.Supply(cfg, o),
		fx.NopLogger,
		fx.Provide(func() *slog.Logger { return logging.New(logs, cfg.Log) }),
		natsconn.Module,
		health.Module,
		ingress.Module,
		fx.Populate(&srv),
	)
	app.RequireStart()
	g := &rig{
		t: t, App: app, Logs: logs, URL: "http://" + srv.Addr(), JS: natstest.JetStream(t, natsURL), Cfg: cfg,
		http: &http.Client{Timeout: 30 * time.Second},
	}
	t.Cleanup(func() {
		if !g.stopped {
			app.RequireStop()
		}
	})
	return g
}

// stop stops the app now (the cleanup then does nothing).
func (g *rig) stop() {
	g.stopped = true
	g.App.RequireStop()
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
	g.t.Helper()
	if req.Header.Get("Authorization") == "" && req.Header.Get("X-No-Auth") == "" {
		req.SetBasicAuth(testUser, testPassword)
	}
	req.Header.Del("X-No-Auth")
	res, err := g.http.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Body: b, Header: res.Header}
	_ = json.Unmarshal(b, &out.Reply)
	return out
}

func (g *rig) post(path, contentType string, body []byte) response {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return g.do(req)
}

// postMediator posts a body exactly as the seed mediator builds it (no escaping).
func (g *rig) postMediator(event, xml, args, script string) response {
	g.t.Helper()
	return g.post("/trigger_file", "application/json", mediatorBody(event, xml, args, script))
}

func mediatorBody(event, xml, args, script string) []byte {
	return []byte("{ \"ticket_info\":\"" + base64.StdEncoding.EncodeToString([]byte(xml)) + "\",\n" +
		"\"event\":\"" + event + "\",\n" +
		"\"args\":\"" + args + "\",\n" +
		"\"script\":\"" + script + "\"\n}")
}

func (g *rig) msgs() uint64 {
	g.t.Helper()
	return natstest.StreamMsgs(g.t, g.JS, events.StreamTriggers)
}

// stored returns every event in SCW_TRIGGERS, in order.
func (g *rig) stored() []events.TriggerEvent {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := g.JS.Stream(ctx, events.StreamTriggers)
	if err != nil {
		g.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	var out []events.TriggerEvent
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			g.t.Fatalf("get seq %d: %v", seq, err)
		}
		ev, err := events.UnmarshalTriggerEvent(m.Data)
		if err != nil {
			g.t.Fatalf("seq %d: %v", seq, err)
		}
		if m.Header.Get("Nats-Msg-Id") != ev.ID || m.Header.Get(events.HdrTriggerID) != ev.ID {
			g.t.Fatalf("seq %d: headers %v do not carry id %s", seq, m.Header, ev.ID)
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
