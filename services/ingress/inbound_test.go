package ingress_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/ingress"
)

const (
	inboundSecret   = "hmac shared secret"
	inboundToken    = "jira-token-123"
	inboundPassword = "itsm password"
)

// startInbound runs the ingress with three callback endpoints: snow (HMAC; id, ticket
// and record paths), jira (basic auth; record only) and hook (bearer; no paths).
func startInbound(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	secret := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hmacFile, tokenFile, pwFile := secret("hmac", inboundSecret), secret("token", inboundToken), secret("pw", inboundPassword)
	return startIngress(t, "", func(c *config.Config) {
		c.Servers = map[string]config.Server{
			"snow": {BaseURL: "https://snow.example", Inbound: &config.Inbound{
				Auth: config.InboundAuth{HMAC: &config.HMACAuth{SecretFile: hmacFile}},
				ID:   "event_id", Ticket: "ticket", Record: "record.sys_id",
			}},
			"jira": {BaseURL: "https://jira.example", Inbound: &config.Inbound{
				Path: "/hooks/jira", Auth: config.InboundAuth{Basic: &config.BasicAuth{User: "jira", PasswordFile: pwFile}},
				Record: "issue.key", MaxBodyBytes: 1024,
			}},
			"hook": {BaseURL: "https://hook.example", Inbound: &config.Inbound{
				Auth: config.InboundAuth{Bearer: &config.BearerAuth{TokenFile: tokenFile}},
			}},
		}
	})
}

// callbackReply is the ingress's answer to a callback.
type callbackReply struct {
	Status, ID, Subject, Error string
}

// postCallback posts body as JSON to path, with only the credentials auth sets.
func (g *rig) postCallback(path string, body []byte, auth func(*http.Request)) (response, callbackReply) {
	g.T().Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-No-Auth", "1")
	if auth != nil {
		auth(req)
	}
	r := g.do(req)
	var cr callbackReply
	_ = json.Unmarshal(r.Body, &cr)
	return r, cr
}

// signed signs the body with secret at ts (Unix seconds).
func signed(secret string, ts int64, prefix string) func(*http.Request) {
	return func(r *http.Request) {
		body, _ := r.GetBody()
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + b.String()))
		r.Header.Set("X-Triggerflow-Timestamp", strconv.FormatInt(ts, 10))
		sig := prefix + hex.EncodeToString(mac.Sum(nil))
		if prefix == "base64" { // as ServiceNow's GlideCertificateEncryption.generateMac writes it
			sig = base64.StdEncoding.EncodeToString(mac.Sum(nil))
		}
		r.Header.Set("X-Triggerflow-Signature", sig)
	}
}

func signedNow(r *http.Request) { signed(inboundSecret, time.Now().Unix(), "sha256=")(r) }

func jiraBasic(r *http.Request) { r.SetBasicAuth("jira", inboundPassword) }

func hookBearer(r *http.Request) { r.Header.Set("Authorization", "Bearer "+inboundToken) }

// inbound returns every callback stored in SCW_INBOUND, in order; each must carry its id
// as Nats-Msg-Id and be stored under its subject with the key's lane.
func (g *rig) inbound() []events.InboundEvent {
	g.T().Helper()
	var out []events.InboundEvent
	for _, m := range g.Msgs(events.StreamInbound, "") {
		ev, err := events.UnmarshalInboundEvent(m.Data)
		if err != nil {
			g.T().Fatalf("seq %d: %v", m.Sequence, err)
		}
		if m.Header.Get("Nats-Msg-Id") != ev.ID || m.Subject != ev.StoredSubject() {
			g.T().Fatalf("seq %d: subject %s, headers %v; want %s and id %s", m.Sequence, m.Subject, m.Header, ev.StoredSubject(), ev.ID)
		}
		out = append(out, ev)
	}
	return out
}

// TestInboundStored: a good callback of each auth method is answered 202 with its id
// and subject, and stored once, with its ticket, record and body.
func TestInboundStored(t *testing.T) {
	g := startInbound(t)
	cases := []struct {
		name, path, body string
		auth             func(*http.Request)
		ticket, record   string
		subject          string
	}{
		{"hmac", "/v1/inbound/snow", `{"event_id":"e-1","ticket":"1234","record":{"sys_id":"abc123"},"state":"approved"}`, signedNow, "1234", "abc123", "scw.inbound.snow.1234"},
		{"hmac in base64, record only", "/v1/inbound/snow", `{"event_id":8,"record":{"sys_id":"CHG 2"}}`, signed(inboundSecret, time.Now().Unix(), "base64"), "", "CHG 2", "scw.inbound.snow.rec-" + events.InboundRecordToken("CHG 2")},
		{"hmac without prefix, record only", "/v1/inbound/snow", `{"event_id":7,"record":{"sys_id":"CHG 1"}}`, signed(inboundSecret, time.Now().Unix(), ""), "", "CHG 1", "scw.inbound.snow.rec-" + events.InboundRecordToken("CHG 1")},
		{"basic", "/hooks/jira", `{"issue":{"key":"NET-12"},"transition":"Done"}`, jiraBasic, "", "NET-12", "scw.inbound.jira.rec-NET-12"},
		{"bearer, neither ticket nor record", "/v1/inbound/hook", "{\n  \"anything\": [1, 2]\n}", hookBearer, "", "", "scw.inbound.hook.none"},
		// Ticket 1001 however the ITSM writes it: one ticket, one lane, as for a trigger's <id>.
		{"hmac, ticket with leading zeros", "/v1/inbound/snow", `{"event_id":"e-2","ticket":"0001001"}`, signedNow, "1001", "", "scw.inbound.snow.1001"},
	}
	for i, tc := range cases {
		r, cr := g.postCallback(tc.path, []byte(tc.body), tc.auth)
		if r.Status != http.StatusAccepted || cr.Status != "stored" || cr.Subject != tc.subject || cr.ID == "" {
			t.Fatalf("%s: %s", tc.name, r)
		}
		evs := g.inbound()
		if len(evs) != i+1 {
			t.Fatalf("%s: %d callbacks stored, want %d", tc.name, len(evs), i+1)
		}
		ev := evs[i]
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(tc.body))
		switch {
		case ev.ID != cr.ID || ev.Subject() != tc.subject || ev.Ticket != tc.ticket:
			t.Errorf("%s: stored %+v, answered %+v", tc.name, ev, cr)
		case tc.record == "" && ev.Record != nil, tc.record != "" && (ev.Record == nil || ev.Record.Value != tc.record):
			t.Errorf("%s: record %+v, want %q", tc.name, ev.Record, tc.record)
		case string(ev.Body) != compact.String():
			t.Errorf("%s: body %s, want %s", tc.name, ev.Body, compact.String())
		case time.Since(ev.ReceivedAt) > time.Hour || ev.Ingress == "":
			t.Errorf("%s: received %v by %q", tc.name, ev.ReceivedAt, ev.Ingress)
		}
	}
	if k := g.inbound()[3].Record.Key; k != "key" {
		t.Errorf("jira's record key %q, want key (the last element of issue.key)", k)
	}
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/metrics", nil)
	if r := g.do(req); !strings.Contains(string(r.Body), `triggerflow_ingress_requests_total{endpoint="inbound:snow",outcome="stored"} 4`) {
		t.Errorf("no inbound:snow stored count in /metrics")
	}
}

// TestInboundUnauthorized: a callback without good credentials is a 401 saying what is
// wrong, without the secret, and nothing is stored.
func TestInboundUnauthorized(t *testing.T) {
	g := startInbound(t)
	snow := []byte(`{"event_id":"e-1","ticket":"1234"}`)
	now := time.Now().Unix()
	cases := []struct {
		name, path string
		body       []byte
		auth       func(*http.Request)
		want       string
	}{
		{"hmac: bad signature", "/v1/inbound/snow", snow, signed("another secret", now, "sha256="), "bad signature"},
		{"hmac: signature not hex", "/v1/inbound/snow", snow, func(r *http.Request) {
			signedNow(r)
			r.Header.Set("X-Triggerflow-Signature", "sha256=zz")
		}, "bad signature"},
		{"hmac: body changed after signing", "/v1/inbound/snow", snow, func(r *http.Request) {
			signedNow(r)
			r.Header.Set("X-Triggerflow-Timestamp", strconv.FormatInt(now-1, 10))
		}, "bad signature"},
		{"hmac: old timestamp", "/v1/inbound/snow", snow, signed(inboundSecret, now-6*60, "sha256="), "timestamp too old (window 5m0s)"},
		{"hmac: future timestamp", "/v1/inbound/snow", snow, signed(inboundSecret, now+6*60, "sha256="), "timestamp too far in the future (window 5m0s)"},
		{"hmac: no timestamp", "/v1/inbound/snow", snow, func(r *http.Request) {
			signedNow(r)
			r.Header.Del("X-Triggerflow-Timestamp")
		}, "missing X-Triggerflow-Timestamp header"},
		{"hmac: timestamp in milliseconds", "/v1/inbound/snow", snow, signed(inboundSecret, now*1000, "sha256="), "timestamp too far in the future"},
		{"hmac: no credentials", "/v1/inbound/snow", snow, nil, "missing credentials"},
		{"basic: no credentials", "/hooks/jira", snow, nil, "missing credentials"},
		{"basic: wrong password", "/hooks/jira", snow, func(r *http.Request) { r.SetBasicAuth("jira", "guess") }, "wrong user name or password"},
		{"basic: wrong user", "/hooks/jira", snow, func(r *http.Request) { r.SetBasicAuth("admin", inboundPassword) }, "wrong user name or password"},
		{"bearer: no credentials", "/v1/inbound/hook", snow, nil, "missing credentials"},
		{"bearer: wrong token", "/v1/inbound/hook", snow, func(r *http.Request) { r.Header.Set("Authorization", "Bearer guess") }, "wrong token"},
		{"bearer: basic instead", "/v1/inbound/hook", snow, jiraBasic, "missing credentials"},
		{"bearer: another server's credentials", "/v1/inbound/hook", snow, signedNow, "missing credentials"},
	}
	for _, tc := range cases {
		r, cr := g.postCallback(tc.path, tc.body, tc.auth)
		if r.Status != http.StatusUnauthorized || cr.Status != "rejected" || !strings.Contains(cr.Error, tc.want) {
			t.Errorf("%s: %s, want 401 %q", tc.name, r, tc.want)
		}
		for _, s := range []string{inboundSecret, inboundPassword, inboundToken} {
			if strings.Contains(string(r.Body), s) || strings.Contains(g.Logs.String(), s) {
				t.Errorf("%s: a secret in the answer or the logs", tc.name)
			}
		}
	}
	if n := g.Count(events.StreamInbound); n != 0 {
		t.Fatalf("%d callbacks stored without good credentials", n)
	}
}

// TestInboundRetriesStoreOnce: an ITSM retrying one callback five times gets five 202s
// and one stored callback: by the callback's id when its path is configured (the
// signature's timestamp differs), by its body otherwise.
func TestInboundRetriesStoreOnce(t *testing.T) {
	g := startInbound(t)
	var ids []string
	for i := 0; i < 5; i++ {
		body := []byte(`{"event_id":"e-42","ticket":"77","attempt":` + strconv.Itoa(i) + `}`)
		r, cr := g.postCallback("/v1/inbound/snow", body, signed(inboundSecret, time.Now().Unix()-int64(i), "sha256="))
		if r.Status != http.StatusAccepted {
			t.Fatalf("snow attempt %d: %s", i+1, r)
		}
		ids = append(ids, cr.ID)
	}
	for i := 0; i < 5; i++ {
		r, cr := g.postCallback("/v1/inbound/hook", []byte(`{"state":"approved","n":1}`), hookBearer)
		if r.Status != http.StatusAccepted {
			t.Fatalf("hook attempt %d: %s", i+1, r)
		}
		ids = append(ids, cr.ID)
	}
	for i := 1; i < 5; i++ {
		if ids[i] != ids[0] || ids[5+i] != ids[5] || ids[0] == ids[5] {
			t.Fatalf("ids across retries: %v", ids)
		}
	}
	if n := g.Count(events.StreamInbound); n != 2 {
		t.Fatalf("%d callbacks stored, want 2", n)
	}
}

// TestInboundBadInput: a callback the ingress cannot take gets a 4xx naming the
// problem, and nothing is stored.
func TestInboundBadInput(t *testing.T) {
	g := startInbound(t)
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string
	}{
		{"not JSON", "", "/hooks/jira", "", `{"issue": `, 400, "body is not valid JSON (unexpected end of JSON input"},
		{"not JSON at an offset", "", "/hooks/jira", "", `{"issue" 1}`, 400, "invalid character '1' after object key at byte 10"},
		{"array", "", "/hooks/jira", "", `[{"issue":{"key":"A-1"}}]`, 400, "body must be a JSON object, not an array"},
		{"empty", "", "/hooks/jira", "", ``, 400, "body is empty"},
		{"duplicate key", "", "/hooks/jira", "", `{"issue":{"key":"A-1"},"issue":{"key":"A-2"}}`, 400, `duplicate key "issue"`},
		{"oversize", "", "/hooks/jira", "", `{"x":"` + strings.Repeat("a", 1024) + `"}`, 413, "body is larger than 1024 bytes (servers.jira.inbound.max_body_bytes)"},
		{"wrong content type", "", "/hooks/jira", "application/x-www-form-urlencoded", `issue=1`, 415, "send the callback as Content-Type: application/json"},
		{"record an object", "", "/hooks/jira", "", `{"issue":{"key":{"id":1}}}`, 400, `record (path "issue.key") must be a string or a number, not an object`},
		{"record empty", "", "/hooks/jira", "", `{"issue":{"key":""}}`, 400, `record (path "issue.key") is empty`},
		{"ticket not digits", "", "/v1/inbound/snow", "", `{"event_id":"e","ticket":"12a"}`, 400, `ticket (path "ticket"): "12a" is not a SecureChange ticket id: want 1 to 19 digits`},
		{"ticket only zeros", "", "/v1/inbound/snow", "", `{"event_id":"e","ticket":"00"}`, 400, `ticket (path "ticket"): "00" is not a ticket number (ticket numbers start at 1)`},
		{"ticket a fraction", "", "/v1/inbound/snow", "", `{"event_id":"e","ticket":1.5}`, 400, "is not a SecureChange ticket id"},
		{"id an array", "", "/v1/inbound/snow", "", `{"event_id":[1],"ticket":"1"}`, 400, `id (path "event_id") must be a string or a number, not an array`},
		{"id empty", "", "/v1/inbound/snow", "", `{"event_id":" ","ticket":"1"}`, 400, `id (path "event_id") is empty`},
		{"GET", http.MethodGet, "/hooks/jira", "", ``, 405, "method GET is not allowed on \"/hooks/jira\": POST the callback"},
		{"unknown server", "", "/v1/inbound/nobody", "", `{}`, 404, "no endpoint at \"/v1/inbound/nobody\""},
	}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, g.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.ctype == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if tc.path == "/v1/inbound/snow" {
			signedNow(req)
		} else {
			jiraBasic(req)
		}
		r := g.do(req)
		var cr callbackReply
		_ = json.Unmarshal(r.Body, &cr)
		msg := cr.Error
		if msg == "" && r.Reply.Error != nil { // a path no endpoint serves: the ingress's own answer
			msg = r.Reply.Error.Output
		}
		if r.Status != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %s, want %d %q", tc.name, r, tc.status, tc.want)
		}
		if tc.status == 405 && r.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: Allow %q", tc.name, r.Header.Get("Allow"))
		}
	}
	if n := g.Count(events.StreamInbound); n != 0 {
		t.Fatalf("%d bad callbacks stored", n)
	}
}

// TestInboundNeedsAuth: an endpoint without auth is refused at start, unless --dev; then
// it takes callbacks without credentials.
func TestInboundNeedsAuth(t *testing.T) {
	open := ingress.InboundServers{"open": {Path: "/v1/inbound/open", MaxBodyBytes: 1024}}
	t.Setenv("TF_TEST_INGRESS_PW", testPassword)
	in := config.Default().Ingress
	in.Users = []config.User{{Name: testUser, PasswordEnv: "TF_TEST_INGRESS_PW"}}
	_, err := ingress.NewHandler(ingress.HandlerParams{
		Config: in, Log: slog.New(slog.DiscardHandler), AllowNoAuth: false, Inbound: open,
	})
	if err == nil || !strings.Contains(err.Error(), "servers.open.inbound.auth is empty") {
		t.Fatalf("no auth without --dev: %v", err)
	}
	g := startIngress(t, "", func(c *config.Config) {
		c.Servers = map[string]config.Server{"open": {BaseURL: "https://open.example", Inbound: &config.Inbound{}}}
	}, fx.Replace(ingress.Options{Dev: true}))
	if r, _ := g.postCallback("/v1/inbound/open", []byte(`{"a":1}`), nil); r.Status != http.StatusAccepted {
		t.Fatalf("--dev: %s", r)
	}
	if n := g.Count(events.StreamInbound); n != 1 {
		t.Fatalf("%d callbacks stored, want 1", n)
	}
}
