package notifier

// Unit tests of Service.Perform (emails) and of the alerter's Decode and Perform without
// a broker: the Service and the alerter are built by hand, each operation is one
// runner.Job. Emails go to a real SMTP server (smtptest) through the real mailer;
// alerts go to a recording Sender (the SMTP side of sending is the same send).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/notifier/mailer"
	"github.com/triggerflow/triggerflow/services/notifier/smtptest"
)

var ptLog = slog.New(slog.DiscardHandler)

// ptSubject is the ticket's subject: HTML-special characters and non-ASCII.
const ptSubject = "Web → DB & <prod>"

// ptEmailOp is an email operation as the dispatcher plans it, with an enriched ticket
// whose requester has an address in the JSON (requester_email) and whose current task
// is assigned to user 42 (known to the users API only).
func ptEmailOp(ticket string, spec events.EmailSpec) events.Operation {
	info := events.TicketInfo{ID: ticket, Subject: ptSubject, UpdateDate: "1763884860000"}
	trig := events.NewTriggerEvent(events.Create, info, []byte("<ticket_info/>"), "", "")
	b, _ := json.Marshal(spec)
	subj, _ := json.Marshal(ptSubject)
	tk := fmt.Sprintf(`{"id":%s,"subject":%s,"requester":"a.smith","requester_id":41,"requester_email":"a.smith@example.com",
"workflow":{"id":7,"name":"Access Request"},"current_step":{"id":12,"name":"Business Approval"},
"steps":{"step":{"id":12,"name":"Business Approval","tasks":{"task":{"id":22,"name":"Default","status":"ASSIGNED","assignee":"b.jones","assignee_id":42,"fields":{"field":[]}}}}},
"comments":{"comment":[]}}`, ticket, subj)
	return events.Operation{
		ID: events.OperationID(trig.ID, "tell", "mail"), Kind: events.OpEmail, Target: TargetSMTP, Route: "tell", Action: "mail",
		TriggerID: trig.ID, Ticket: ticket, Event: events.Create, Spec: b,
		Context: &events.OpContext{Trigger: trig, Ticket: json.RawMessage(tk)},
	}
}

func ptJob(o events.Operation, delivered int) *runner.Job {
	return &runner.Job{Op: o, Delivered: delivered, Log: ptLog}
}

// ptSC is SecureChange's users and tickets API: user 42 is b.jones, 43 the group of 42
// and 44 (c.doe), user 41 has an
// address the ticket JSON's requester_email must win over; ticket 4343 is readable.
// fail, when set, answers every request with that status.
type ptSC struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
	fail  int
}

func newPTSC(t *testing.T) *ptSC {
	s := &ptSC{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		fail := s.fail
		s.mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "api" || p != "sc-pass" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case fail != 0:
			w.WriteHeader(fail)
		case r.URL.Path == "/tickets/4343.json":
			_, _ = io.WriteString(w, `{"ticket":`+string(ptEmailOp("4343", events.EmailSpec{}).Context.Ticket)+`}`)
		case r.URL.Path == "/users/42.json":
			_, _ = io.WriteString(w, `{"user":{"id":42,"name":"b.jones","email":"b.jones@example.com"}}`)
		case r.URL.Path == "/users/43.json": // a group (pytos get_sc_user_by_id: Group)
			_, _ = io.WriteString(w, `{"group":{"@xsi.type":"group","id":43,"name":"Approvers","email":"","members":{"user":[{"@xsi.type":"user","id":42,"name":"b.jones"},{"@xsi.type":"user","id":44,"name":"c.doe"}]}}}`)
		case r.URL.Path == "/users/44.json":
			_, _ = io.WriteString(w, `{"user":{"@xsi.type":"user","id":44,"name":"c.doe","email":"c.doe@example.com"}}`)
		case r.URL.Path == "/users/41.json":
			_, _ = io.WriteString(w, `{"user":{"id":41,"name":"a.smith","email":"not-this-one@example.com"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ptSC) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

func (s *ptSC) setFail(status int) {
	s.mu.Lock()
	s.fail = status
	s.mu.Unlock()
}

func (s *ptSC) client(t *testing.T) *securechange.Client {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "sc-password")
	if err := os.WriteFile(pw, []byte("sc-pass"), 0o600); err != nil {
		t.Fatal(err)
	}
	zero := 0
	c, err := securechange.New(config.SecureChange{URL: s.URL, User: "api", PasswordFile: pw, Timeout: 10 * time.Second, Retries: &zero}, ptLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ptService is the notifier's Service over mail (and SecureChange when sc is not nil).
func ptService(mail Sender, sc *securechange.Client, mutate func(*config.Config)) *Service {
	cfg := config.Default()
	if mutate != nil {
		mutate(cfg)
	}
	cfg.SetDefaults()
	s := &Service{Log: ptLog, Cfg: ConfigOf(cfg), Mail: mail, SecureChange: sc, routes: map[string]config.Route{}}
	for _, r := range cfg.Routes {
		s.routes[r.Name] = r
	}
	return s
}

// ptMailer is the real mailer for a plain (no TLS, no AUTH) SMTP server at host:port.
func ptMailer(t *testing.T, host string, port int) *mailer.Mailer {
	t.Helper()
	off := false
	m, err := mailer.New(config.SMTP{Host: host, Port: port, StartTLS: &off, From: "triggerflow <triggerflow@example.com>", Timeout: 10 * time.Second, HELO: "test.example"}, ptLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// ptParts decodes the parts of a multipart message: content type → decoded body.
func ptParts(t *testing.T, m smtptest.Message) map[string]string {
	t.Helper()
	if m.Parsed == nil {
		t.Fatalf("message did not parse: %v", m.ParseErr)
	}
	mt, params, err := mime.ParseMediaType(m.Parsed.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", m.Parsed.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	mr := multipart.NewReader(m.Parsed.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			b, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
	return out
}

// An email over SMTP: fixed recipients, the requester from the ticket JSON, the handler
// from the users API; subject, text and HTML rendered from the spec's texts (HTML
// escaped in the HTML part only); Message-ID <op id@triggerflow>; one attempt.
func TestPerformEmail(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t)
	sc := newPTSC(t)
	svc := ptService(ptMailer(t, srv.Host, srv.Port), sc.client(t), nil)
	o := ptEmailOp("1234", events.EmailSpec{
		To: []string{"cab@example.com", " Requester "}, Cc: []string{"handler"},
		Subject: "Ticket #ticket_id# – #ticket_subject#",
		Text:    "Ticket #ticket_id# (#ticket_subject#) is at #step_name#, handled by #assignee#.\n", TextName: "mail.txt",
		HTML: "<p>Ticket <b>#ticket_id#</b>: #ticket_subject#</p>\n",
	})
	j := ptJob(o, 1)
	done, err := svc.Perform(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	if done.Commit != nil || done.Marker != nil || len(done.Correlation) != 0 {
		t.Errorf("Done %+v: an email records nothing of its own", done)
	}
	if len(j.Attempts) != 1 || j.Attempts[0].N != 1 || j.Attempts[0].Error != "" || j.Attempts[0].At.IsZero() {
		t.Errorf("attempts %+v", j.Attempts)
	}
	msgs := srv.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if got := strings.Join(m.To, ","); got != "cab@example.com,a.smith@example.com,b.jones@example.com" {
		t.Errorf("envelope recipients %s", got)
	}
	h := m.Parsed.Header
	if got := h.Get("Message-Id"); got != "<"+o.ID+"@triggerflow>" {
		t.Errorf("Message-Id %q, want <%s@triggerflow>", got, o.ID)
	}
	if !strings.Contains(h.Get("To"), "cab@example.com") || !strings.Contains(h.Get("To"), "a.smith@example.com") || !strings.Contains(h.Get("Cc"), "b.jones@example.com") {
		t.Errorf("To %q, Cc %q", h.Get("To"), h.Get("Cc"))
	}
	for k, v := range map[string]string{"X-Triggerflow-Operation": o.ID, "X-Triggerflow-Ticket": "1234", "X-Triggerflow-Trigger": o.TriggerID, "X-Triggerflow-Event": "CREATE"} {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if want := "Ticket 1234 – " + ptSubject; err != nil || subject != want {
		t.Errorf("subject %q (%v), want %q", subject, err, want)
	}
	parts := ptParts(t, m)
	if want := "Ticket 1234 (" + ptSubject + ") is at Business Approval, handled by b.jones.\n"; strings.ReplaceAll(parts["text/plain"], "\r\n", "\n") != want {
		t.Errorf("text %q, want %q", parts["text/plain"], want)
	}
	if want := "<p>Ticket <b>1234</b>: Web → DB &amp; &lt;prod&gt;</p>"; !strings.Contains(parts["text/html"], want) {
		t.Errorf("html %q, want %q", parts["text/html"], want)
	}
	// The requester's address came from the ticket JSON: only the handler was looked up.
	if got := sc.seen(); !slices.Equal(got, []string{"/users/42.json"}) {
		t.Errorf("users API saw %v, want only /users/42.json", got)
	}
}

// ptSender records what it is asked to send; errs, when set, answers the n-th Send
// (1-based) with an error.
type ptSender struct {
	mu   sync.Mutex
	msgs []mailer.Message
	n    int
	errs func(n int) error
}

func (s *ptSender) Send(_ context.Context, m mailer.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.errs != nil {
		if err := s.errs(s.n); err != nil {
			return err
		}
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *ptSender) sent() []mailer.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Without a subject or text, the defaults; the subject, text and HTML names let errors
// point at the route's template files.
func TestPerformEmailDefaults(t *testing.T) {
	t.Parallel()
	snd := &ptSender{}
	svc := ptService(snd, nil, nil)
	o := ptEmailOp("1235", events.EmailSpec{To: []string{"Ops Team <ops@example.com>"}})
	if _, err := svc.Perform(t.Context(), ptJob(o, 1)); err != nil {
		t.Fatal(err)
	}
	sent := snd.sent()
	if len(sent) != 1 {
		t.Fatalf("%d sent", len(sent))
	}
	m := sent[0]
	if m.Subject != "SecureChange ticket 1235: "+ptSubject || m.HTML != "" || !strings.Contains(m.Text, "SecureChange ticket 1235 ("+ptSubject+"): CREATE.") ||
		!strings.Contains(m.Text, "trigger "+o.TriggerID) || m.MessageID != "<"+o.ID+"@triggerflow>" || !slices.Equal(m.To, []string{`"Ops Team" <ops@example.com>`}) {
		t.Errorf("message %+v", m)
	}
}

// What fails before anything is sent: recipients that are not addresses or cannot be
// resolved, a placeholder without a value. Permanent unless SecureChange's users API
// failed transiently; nothing is sent.
func TestPerformEmailComposeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		spec      events.EmailSpec
		sc        int // the users API's status (0: it answers); -1: no SecureChange
		permanent bool
		mentions  []string
	}{
		{name: "bad address", spec: events.EmailSpec{To: []string{"ops@example.com", "not an address"}}, permanent: true, mentions: []string{`"not an address"`, "not an e-mail address"}},
		{name: "bad cc", spec: events.EmailSpec{To: []string{"ops@example.com"}, Cc: []string{"x@"}}, permanent: true, mentions: []string{`"x@"`}},
		{name: "handler without securechange", spec: events.EmailSpec{To: []string{"handler"}}, sc: -1, permanent: true, mentions: []string{"handler", "securechange.url", "42"}},
		{name: "unknown user", spec: events.EmailSpec{To: []string{"handler"}}, sc: http.StatusNotFound, permanent: true, mentions: []string{"user 42 not found"}},
		{name: "users API down", spec: events.EmailSpec{To: []string{"handler"}}, sc: http.StatusServiceUnavailable, mentions: []string{"user 42", "503"}},
		{name: "missing placeholder", spec: events.EmailSpec{To: []string{"ops@example.com"}, Subject: "#ticket_id# #Nope#"}, permanent: true, mentions: []string{"#Nope#", "subject of mail"}},
		{name: "missing placeholder in a named text", spec: events.EmailSpec{To: []string{"ops@example.com"}, Text: "#Nope#", TextName: "templates/mail.txt"}, permanent: true, mentions: []string{"#Nope#", "templates/mail.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var client *securechange.Client
			if tc.sc >= 0 {
				api := newPTSC(t)
				api.setFail(tc.sc)
				client = api.client(t)
			}
			snd := &ptSender{}
			svc := ptService(snd, client, nil)
			j := ptJob(ptEmailOp("1236", tc.spec), 1)
			_, err := svc.Perform(t.Context(), j)
			if err == nil || failure.IsPermanent(err) != tc.permanent {
				t.Fatalf("err = %v, want permanent %v", err, tc.permanent)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if tc.name == "missing placeholder" && !errors.Is(err, wfi.ErrMissing) {
				t.Errorf("err %v is not wfi.ErrMissing", err)
			}
			if n := len(snd.sent()); n != 0 {
				t.Errorf("%d sent", n)
			}
			if len(j.Attempts) != 0 && tc.permanent {
				t.Errorf("attempts %+v", j.Attempts)
			}
		})
	}
}

// A transient failure of the users API is a request Perform made: it is recorded as an
// attempt, so notifier.retry.attempts bounds its retries and the backoff grows.
func TestPerformEmailUsersAPIFailureIsAnAttempt(t *testing.T) {
	t.Parallel()
	api := newPTSC(t)
	api.setFail(http.StatusServiceUnavailable)
	svc := ptService(&ptSender{}, api.client(t), nil)
	j := ptJob(ptEmailOp("1237", events.EmailSpec{To: []string{"handler"}}), 1)
	_, err := svc.Perform(t.Context(), j)
	if err == nil || failure.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if len(api.seen()) != 1 {
		t.Fatalf("users API saw %v", api.seen())
	}
	if len(j.Attempts) != 1 {
		t.Errorf("the users API request failed transiently (%v) but no attempt was recorded (attempts %+v): retry.attempts cannot bound its retries", err, j.Attempts)
	}
}

// How the SMTP server's answers are classified, each recorded as one attempt: 550
// permanent, 451 transient (and the retry sends the email once), a server that does not
// listen an outage (not counted against retry.attempts).
func TestPerformEmailSMTPFailures(t *testing.T) {
	t.Parallel()
	t.Run("550", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t)
		srv.FailNext(1, 550, "5.1.1 mailbox unavailable")
		svc := ptService(ptMailer(t, srv.Host, srv.Port), nil, nil)
		j := ptJob(ptEmailOp("1301", events.EmailSpec{To: []string{"nobody@example.com"}}), 1)
		_, err := svc.Perform(t.Context(), j)
		if err == nil || !failure.IsPermanent(err) || failure.IsOutage(err) || !strings.Contains(err.Error(), "550") {
			t.Fatalf("err = %v, want permanent 550", err)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Transient || j.Attempts[0].Outage || !strings.Contains(j.Attempts[0].Error, "550") {
			t.Errorf("attempts %+v", j.Attempts)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d messages accepted", n)
		}
	})
	t.Run("451 then success", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t)
		srv.FailNext(1, 451, "4.3.0 try again later")
		svc := ptService(ptMailer(t, srv.Host, srv.Port), nil, nil)
		o := ptEmailOp("1302", events.EmailSpec{To: []string{"ops@example.com"}})
		j := ptJob(o, 1)
		_, err := svc.Perform(t.Context(), j)
		if err == nil || failure.IsPermanent(err) || failure.IsOutage(err) || !strings.Contains(err.Error(), "451") {
			t.Fatalf("err = %v, want transient 451", err)
		}
		if _, ok := failure.RetryAfter(err); ok {
			t.Errorf("a 451 carries no Retry-After")
		}
		if len(j.Attempts) != 1 || !j.Attempts[0].Transient || j.Attempts[0].Outage {
			t.Errorf("attempts %+v", j.Attempts)
		}
		j2 := ptJob(o, 2)
		j2.Attempts = j.Attempts
		if _, err := svc.Perform(t.Context(), j2); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if len(j2.Attempts) != 2 || j2.Attempts[1].N != 2 || j2.Attempts[1].Error != "" {
			t.Errorf("attempts after the retry %+v", j2.Attempts)
		}
		if msgs := srv.WaitMessages(t, 1, 10*time.Second); len(msgs) != 1 || msgs[0].Parsed.Header.Get("Message-Id") != "<"+o.ID+"@triggerflow>" {
			t.Errorf("%d messages", len(msgs))
		}
	})
	t.Run("not listening", func(t *testing.T) {
		t.Parallel()
		port := natstest.FreePort(t) // nothing listens there
		svc := ptService(ptMailer(t, "127.0.0.1", port), nil, nil)
		j := ptJob(ptEmailOp("1303", events.EmailSpec{To: []string{"ops@example.com"}}), 1)
		_, err := svc.Perform(t.Context(), j)
		if err == nil || failure.IsPermanent(err) || !failure.IsOutage(err) || failure.IsNotAttempted(err) {
			t.Fatalf("err = %v, want a transient outage", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Errorf("err %v does not wrap the dial's *net.OpError", err)
		}
		if len(j.Attempts) != 1 || !j.Attempts[0].Outage || !j.Attempts[0].Transient {
			t.Errorf("attempts %+v, want one outage", j.Attempts)
		}
	})
}

// ptClock is a settable Now.
type ptClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ptClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *ptClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ptAlerter is the alerter of svc with storm control (digest_after after, one window),
// its queue recording the alerts it is given; queueErr, when set, answers a queueing.
type ptQueue struct {
	mu     sync.Mutex
	alerts []alert
	err    func(al alert) error
}

func (q *ptQueue) queue(_ context.Context, al alert) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		if err := q.err(al); err != nil {
			return err
		}
	}
	q.alerts = append(q.alerts, al)
	return nil
}

func (q *ptQueue) keys() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, al := range q.alerts {
		out = append(out, al.Key)
	}
	return out
}

func ptAlerter(svc *Service, after int, window time.Duration) (*alerter, *ptQueue) {
	q := &ptQueue{}
	return &alerter{s: svc, log: ptLog, queue: q.queue, storm: storm{after: after, window: window}}, q
}

// ptFailed is a failed result of operation id for ticket.
func ptFailed(id, ticket string, parks bool) events.Result {
	return events.Result{
		OperationID: id, TriggerID: "trig-" + id, Ticket: ticket, Event: events.Create, Kind: events.OpITSM,
		Target: "servicenow", Route: "open-change", Action: "create", Status: events.ResultFailed,
		Error: "gave up after 3 attempts: 503 Service Unavailable", Attempts: make([]events.Attempt, 3), Parks: parks,
	}
}

func ptResultMsg(t *testing.T, r events.Result) *message.Message {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := message.NewMessage(r.ID(), b)
	for k, v := range r.Headers() {
		m.Metadata.Set(k, v)
	}
	return m
}

func ptSpec(t *testing.T, o events.Operation) alert {
	t.Helper()
	var al alert
	if err := json.Unmarshal(o.Spec, &al); err != nil {
		t.Fatal(err)
	}
	return al
}

// A failed result becomes the alert operation alert.<operation id>: kind alert, to smtp,
// what failed, the error, the attempts, the commands that redrive it (and, when it parks
// its lane, the one that skips it).
func TestAlertDecodeFailedResult(t *testing.T) {
	t.Parallel()
	clk := &ptClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	svc := ptService(&ptSender{}, nil, nil)
	svc.Now = clk.now
	a, _ := ptAlerter(svc, 10, time.Minute)
	o, err := a.Decode(ptResultMsg(t, ptFailed("op-1", "55", true)))
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "alert.op-1" || o.Kind != OpAlert || string(o.Kind) != "alert" || o.Target != TargetSMTP || o.Action != "alert" ||
		o.Route != "open-change" || o.Ticket != "55" || o.Event != events.Create || o.TriggerID != "trig-op-1" {
		t.Errorf("operation %+v", o)
	}
	al := ptSpec(t, o)
	if al.Key != "alert.op-1" || al.What != "itsm operation create (route open-change) to servicenow" || al.Attempts != 3 ||
		!strings.Contains(al.Error, "503") || !al.Parks || !al.At.Equal(clk.now()) || len(al.To) != 0 {
		t.Errorf("alert %+v", al)
	}
	for _, want := range []string{"nats --server 'nats://127.0.0.1:4222' sub --stream SCW_DLQ --all -T --wait 2s 'scw.dlq.itsm-sync.55'", "nats --server 'nats://127.0.0.1:4222' pub 'scw.op.itsm.servicenow.55'", "-H 'Scw-Skip:true'"} {
		if !strings.Contains(al.Redrive, want) {
			t.Errorf("redrive lacks %q:\n%s", want, al.Redrive)
		}
	}
	if !strings.Contains(al.Redrive, "triggerflow redrive --server 'nats://127.0.0.1:4222' --service itsm-sync --ticket 55") {
		t.Errorf("no triggerflow redrive line:\n%s", al.Redrive)
	}
	// Every command names the server the operator reaches: without credentials.
	for _, l := range strings.Split(al.Redrive, "\n") {
		if strings.Count(l, "nats ") != strings.Count(l, "nats --server ") {
			t.Errorf("a nats command without --server: %s", l)
		}
	}
	cfg := config.Default()
	cfg.NATS.URL = "nats://ops:s3cret@nats.example:4222"
	svc.Cfg.NATSServer = ConfigOf(cfg).NATSServer
	if al := ptSpec(t, mustDecode(t, a, ptResultMsg(t, ptFailed("op-9", "59", false)))); !strings.Contains(al.Redrive, "nats --server 'nats://nats.example:4222' sub") || strings.Contains(al.Redrive, "s3cret") {
		t.Errorf("with nats.url holding credentials:\n%s", al.Redrive)
	}
	cfg.Notifications.NATSServer = "nats://nats.ops.example:4222"
	svc.Cfg.NATSServer = ConfigOf(cfg).NATSServer
	if al := ptSpec(t, mustDecode(t, a, ptResultMsg(t, ptFailed("op-10", "60", false)))); !strings.Contains(al.Redrive, "nats --server 'nats://nats.ops.example:4222' pub") {
		t.Errorf("with notifications.nats_server:\n%s", al.Redrive)
	}
	svc.Cfg.NATSServer = ConfigOf(config.Default()).NATSServer

	// An email's failure is redriven from the notifier's dead letters; without Parks,
	// no skip command.
	r := ptFailed("op-2", "56", false)
	r.Kind, r.Target = events.OpEmail, TargetSMTP
	o, err = a.Decode(ptResultMsg(t, r))
	if err != nil {
		t.Fatal(err)
	}
	al = ptSpec(t, o)
	if !strings.Contains(al.Redrive, "scw.dlq.notifier.56") || strings.Contains(al.Redrive, "Scw-Skip") || al.Parks {
		t.Errorf("email alert redrive:\n%s", al.Redrive)
	}
}

func mustDecode(t *testing.T, a *alerter, m *message.Message) events.Operation {
	t.Helper()
	o, err := a.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// What Decode refuses: a result that is not a failure, one without an operation id,
// something that is not a result.
func TestAlertDecodeRejects(t *testing.T) {
	t.Parallel()
	a, _ := ptAlerter(ptService(&ptSender{}, nil, nil), 10, time.Minute)
	ok := ptFailed("op-3", "57", false)
	ok.Status = events.ResultSucceeded
	parked := ptFailed("op-4", "57", false)
	parked.Status = events.ResultParked
	noID := ptFailed("", "57", false)
	cases := map[string]*message.Message{
		"succeeded":    ptResultMsg(t, ok),
		"parked":       ptResultMsg(t, parked),
		"no id":        ptResultMsg(t, noID),
		"not a result": message.NewMessage("m", []byte("not json")),
		"truncated":    message.NewMessage("m", []byte(`{"operation_id":"x","status":"failed"`)),
	}
	for name, m := range cases {
		if o, err := a.Decode(m); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, o)
		}
	}
	if _, err := a.Decode(ptResultMsg(t, ok)); err == nil || !strings.Contains(err.Error(), "not a failure") {
		t.Errorf("succeeded: %v", err)
	}
}

// A trigger the dispatcher dead-lettered becomes alert.trigger.<trigger id> (the
// message's UUID without one), with the ticket, event and error from the headers and
// the commands that find and redrive it.
func TestAlertDecodeDispatcherDeadLetter(t *testing.T) {
	t.Parallel()
	a, _ := ptAlerter(ptService(&ptSender{}, nil, nil), 10, time.Minute)
	m := message.NewMessage("dlq-uuid-1", []byte(`{"id":"trig77","event":"ADVANCE"}`))
	for k, v := range map[string]string{
		events.HdrService: "dispatcher", events.HdrTriggerID: "trig77", events.HdrTicketID: "77", events.HdrEvent: "ADVANCE",
		events.HdrError: "securechange: ticket 77 not found in SecureChange (404)", events.HdrOriginalSubject: "scw.trigger.advance.3.77",
	} {
		m.Metadata.Set(k, v)
	}
	o, err := a.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "alert.trigger.trig77" || o.Kind != OpAlert || o.Target != TargetSMTP || o.Ticket != "77" || o.Event != events.Advance || o.TriggerID != "trig77" || o.Route != "" {
		t.Errorf("operation %+v", o)
	}
	al := ptSpec(t, o)
	if al.What != "trigger ADVANCE could not be planned" || !strings.Contains(al.Error, "not found in SecureChange (404)") || al.Parks {
		t.Errorf("alert %+v", al)
	}
	for _, want := range []string{"nats --server 'nats://127.0.0.1:4222' sub --stream SCW_DLQ --all -T --wait 2s 'scw.dlq.dispatcher.77'", "nats --server 'nats://127.0.0.1:4222' pub 'scw.trigger.advance.3.77'"} {
		if !strings.Contains(al.Redrive, want) {
			t.Errorf("redrive lacks %q:\n%s", want, al.Redrive)
		}
	}

	m.Metadata.Set(events.HdrTriggerID, "")
	if o, err := a.Decode(m); err != nil || o.ID != "alert.trigger.dlq-uuid-1" {
		t.Errorf("without %s: %+v, %v", events.HdrTriggerID, o, err)
	}
}

// Storm control (digest_after 2): the first two alerts of the window are sent one by
// one, the next are queued for the digest; an alert retried within the window keeps its
// decision and is not counted again; a new window sends again.
func TestAlertPerformStorm(t *testing.T) {
	t.Parallel()
	clk := &ptClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	snd := &ptSender{errs: func(n int) error {
		if n == 1 {
			return errors.New("send mail via smtp: 451 4.3.0 try again later")
		}
		return nil
	}}
	svc := ptService(snd, nil, func(c *config.Config) { c.Notifications.OnFailure = []string{"ops@example.com"} })
	svc.Now = clk.now
	a, q := ptAlerter(svc, 2, time.Hour)
	queueFails := true
	q.err = func(al alert) error {
		if al.Key == "alert.a3" && queueFails {
			queueFails = false
			return errors.New("publish scw.alert.digest.3: nats: timeout")
		}
		return nil
	}
	alertOf := func(id string) events.Operation {
		o, err := a.Decode(ptResultMsg(t, ptFailed(id, strings.TrimPrefix(id, "a"), false)))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	type step struct {
		id      string
		fails   bool // Perform returns an error (the runner retries it)
		queued  bool
		sent    int // messages the Sender holds afterwards
		attempt bool
	}
	steps := []step{
		{id: "a1", fails: true, sent: 0, attempt: true}, // decided "send"; the SMTP server said 451
		{id: "a1", sent: 1, attempt: true},              // its retry: still "send", not counted again
		{id: "a2", sent: 2, attempt: true},              // the second alert of the window
		{id: "a3", fails: true, sent: 2},                // the third: digest (its queueing failed)
		{id: "a3", queued: true, sent: 2},               // retried: still digest
		{id: "a1", sent: 3, attempt: true},              // a1 again (a redelivery): keeps "send"
		{id: "a4", queued: true, sent: 3},
	}
	for i, st := range steps {
		j := ptJob(alertOf(st.id), 1)
		done, err := a.Perform(t.Context(), j)
		if (err != nil) != st.fails {
			t.Fatalf("step %d (%s): err %v", i, st.id, err)
		}
		if err != nil && failure.IsPermanent(err) {
			t.Errorf("step %d (%s): %v is permanent", i, st.id, err)
		}
		if n := len(snd.sent()); n != st.sent {
			t.Errorf("step %d (%s): %d sent, want %d", i, st.id, n, st.sent)
		}
		if (len(j.Attempts) == 1) != st.attempt {
			t.Errorf("step %d (%s): attempts %+v", i, st.id, j.Attempts)
		}
		if err != nil {
			continue
		}
		var mark map[string]string
		if json.Unmarshal(done.Marker, &mark) != nil {
			t.Fatalf("step %d: marker %s", i, done.Marker)
		}
		want := "sent"
		if st.queued {
			want = "queued for the digest"
		}
		if mark["alert"] != want || (st.queued && done.Note != "queued for the digest") {
			t.Errorf("step %d (%s): marker %s, note %q; want %q", i, st.id, done.Marker, done.Note, want)
		}
	}
	if got := q.keys(); !slices.Equal(got, []string{"alert.a3", "alert.a4"}) {
		t.Errorf("queued %v, want alert.a3 and alert.a4", got)
	}
	for _, m := range snd.sent() {
		if !slices.Equal(m.To, []string{"<ops@example.com>"}) {
			t.Errorf("sent to %v", m.To)
		}
	}
	queued := q.alerts[0]
	if !slices.Equal(queued.To, []string{"<ops@example.com>"}) || queued.Ticket != "3" || queued.Key != "alert.a3" {
		t.Errorf("queued alert %+v: the digest needs its recipients", queued)
	}

	// A new window: sent again.
	clk.add(time.Hour)
	if _, err := a.Perform(t.Context(), ptJob(alertOf("a5"), 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(snd.sent()); n != 4 {
		t.Errorf("%d sent after the window ended, want 4", n)
	}
	if n := len(q.keys()); n != 2 {
		t.Errorf("%d queued, want still 2", n)
	}
}

// An alert's email: subject, headers, text; a failure that parks its lane says that
// later operations are parked and how to skip it (Scw-Skip:true); one that does not
// says neither.
func TestAlertPerformText(t *testing.T) {
	t.Parallel()
	snd := &ptSender{}
	svc := ptService(snd, nil, func(c *config.Config) { c.Notifications.OnFailure = []string{"ops@example.com"} })
	a, q := ptAlerter(svc, 10, time.Minute)
	for _, parks := range []bool{true, false} {
		id := fmt.Sprintf("p-%v", parks)
		o, err := a.Decode(ptResultMsg(t, ptFailed(id, "88", parks)))
		if err != nil {
			t.Fatal(err)
		}
		j := ptJob(o, 1)
		if _, err := a.Perform(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		sent := snd.sent()
		m := sent[len(sent)-1]
		if m.Subject != "[triggerflow] failed: itsm operation create (route open-change) to servicenow for ticket 88" ||
			m.Headers["X-Triggerflow-Alert"] != "alert."+id || m.Headers["X-Triggerflow-Ticket"] != "88" {
			t.Errorf("alert message %+v", m)
		}
		for _, want := range []string{"What failed: itsm operation create", "Ticket: 88 (CREATE)", "Attempts: 3", "Last error: gave up after 3 attempts: 503", "nats --server 'nats://127.0.0.1:4222' sub --stream SCW_DLQ --all -T --wait 2s 'scw.dlq.itsm-sync.88'"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("parks %v: text lacks %q:\n%s", parks, want, m.Text)
			}
		}
		saysParked := strings.Contains(m.Text, "later operations of ticket 88 for the same destination are parked behind it")
		saysSkip := strings.Contains(m.Text, "-H 'Scw-Skip:true'")
		if saysParked != parks || saysSkip != parks {
			t.Errorf("parks %v: the text says parked %v, skip %v:\n%s", parks, saysParked, saysSkip, m.Text)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Error != "" {
			t.Errorf("attempts %+v", j.Attempts)
		}
	}
	if len(q.keys()) != 0 {
		t.Errorf("queued %v", q.keys())
	}
}

// Alert recipients: a route's on_failure replaces notifications.on_failure; requester
// and handler are read from SecureChange (the ticket, then the users API), and one that
// cannot be resolved is dropped, not the alert; nobody to alert is done, with a marker
// saying so, and nothing sent or queued.
func TestAlertPerformRecipients(t *testing.T) {
	t.Parallel()
	api := newPTSC(t)
	snd := &ptSender{}
	svc := ptService(snd, api.client(t), func(c *config.Config) {
		c.Notifications.OnFailure = []string{"ops@example.com"}
		c.Routes = []config.Route{
			{Name: "open-change", OnFailure: []string{"requester", "handler", "CAB <cab@example.com>", "not an address"}},
			{Name: "silent", OnFailure: []string{"requester"}},
		}
	})
	a, q := ptAlerter(svc, 10, time.Minute)
	perform := func(r events.Result) (runner.Done, *runner.Job) {
		t.Helper()
		o, err := a.Decode(ptResultMsg(t, r))
		if err != nil {
			t.Fatal(err)
		}
		j := ptJob(o, 1)
		done, err := a.Perform(t.Context(), j)
		if err != nil {
			t.Fatal(err)
		}
		return done, j
	}

	r := ptFailed("r1", "4343", false) // route open-change
	perform(r)
	if sent := snd.sent(); len(sent) != 1 || !slices.Equal(sent[0].To, []string{"a.smith@example.com", "b.jones@example.com", `"CAB" <cab@example.com>`}) {
		t.Errorf("open-change alert to %v", sent)
	}
	if got := api.seen(); !slices.Contains(got, "/tickets/4343.json") || !slices.Contains(got, "/users/42.json") {
		t.Errorf("SecureChange saw %v", got)
	}

	r = ptFailed("r2", "4343", false)
	r.Route = "other" // no on_failure of its own
	perform(r)
	if sent := snd.sent(); len(sent) != 2 || !slices.Equal(sent[1].To, []string{"<ops@example.com>"}) {
		t.Errorf("other route's alert to %v", sent)
	}

	// SecureChange fails: the requester is dropped; nobody is left.
	api.setFail(http.StatusInternalServerError)
	r = ptFailed("r3", "4343", false)
	r.Route = "silent"
	done, j := perform(r)
	var mark map[string]string
	if err := json.Unmarshal(done.Marker, &mark); err != nil || mark["alert"] != "nobody to alert" {
		t.Errorf("marker %s, want nobody to alert", done.Marker)
	}
	if n := len(snd.sent()); n != 2 || len(q.keys()) != 0 || len(j.Attempts) != 0 {
		t.Errorf("sent %d, queued %v, attempts %+v: want nothing more", n, q.keys(), j.Attempts)
	}
}

// Failures of an alert's Perform: the SMTP server's (classified by the mailer, recorded
// as an attempt; a permanent refusal is retried all the same, since the alert must go out
// once the SMTP settings or recipients are fixed) and the digest queue's (transient, no
// attempt: nothing was sent); an alert whose spec is not an alert is permanent.
func TestAlertPerformFailures(t *testing.T) {
	t.Parallel()
	snd := &ptSender{errs: func(n int) error {
		return failure.Permanent(errors.New("send mail via smtp: 550 5.1.1 mailbox unavailable"))
	}}
	svc := ptService(snd, nil, func(c *config.Config) { c.Notifications.OnFailure = []string{"ops@example.com"} })
	a, q := ptAlerter(svc, 0, time.Minute) // digest_after 0: everything is queued …
	q.err = func(alert) error { return errors.New("nats: timeout") }
	o, err := a.Decode(ptResultMsg(t, ptFailed("f1", "90", false)))
	if err != nil {
		t.Fatal(err)
	}
	j := ptJob(o, 1)
	_, err = a.Perform(t.Context(), j)
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "queue the alert for the digest") || len(j.Attempts) != 0 {
		t.Errorf("queue failure: %v, attempts %+v", err, j.Attempts)
	}

	a2, _ := ptAlerter(svc, 10, time.Minute) // … or sent
	j = ptJob(o, 1)
	_, err = a2.Perform(t.Context(), j)
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "an alert is retried until it is sent") ||
		len(j.Attempts) != 1 || j.Attempts[0].Transient || !strings.Contains(j.Attempts[0].Error, "550") {
		t.Errorf("SMTP 550: %v, attempts %+v", err, j.Attempts)
	}

	bad := o
	bad.Spec = json.RawMessage(`[1,2]`)
	if _, err := a2.Perform(t.Context(), ptJob(bad, 1)); !failure.IsPermanent(err) || !strings.Contains(err.Error(), "not an alert") {
		t.Errorf("bad spec: %v", err)
	}
}

// A task assigned to a group: the handler is the group's members (their addresses read
// from the users API), not an error that the group has no e-mail address.
func TestPerformEmailGroupHandler(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t)
	sc := newPTSC(t)
	svc := ptService(ptMailer(t, srv.Host, srv.Port), sc.client(t), nil)
	o := ptEmailOp("1234", events.EmailSpec{To: []string{"handler"}, Subject: "s", Text: "t\n", TextName: "mail.txt"})
	o.Context.Ticket = json.RawMessage(strings.Replace(string(o.Context.Ticket), `"assignee_id":42`, `"assignee_id":43`, 1))
	if _, err := svc.Perform(t.Context(), ptJob(o, 1)); err != nil {
		t.Fatal(err)
	}
	msgs := srv.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := strings.Join(msgs[0].To, ","); got != "b.jones@example.com,c.doe@example.com" {
		t.Errorf("envelope recipients %s, want the group's members", got)
	}
	if got := sc.seen(); !slices.Equal(got, []string{"/users/43.json", "/users/42.json", "/users/44.json"}) {
		t.Errorf("users API saw %v", got)
	}
}
