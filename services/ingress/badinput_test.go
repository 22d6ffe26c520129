package ingress_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestBadInput: every kind of bad request gets a 4xx whose message names the problem,
// and nothing reaches the stream.
func TestBadInput(t *testing.T) {
	g := startIngress(t, "", nil)
	good := ticketXML("1234", "1763884860000")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	jsonBody := func(ticketInfo, event string) []byte {
		return []byte(`{"ticket_info":"` + ticketInfo + `","event":"` + event + `","args":"","script":""}`)
	}
	nested := "<ticket_info><id>1</id>" + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + "</ticket_info>"
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><ticket_info><id>1</id><subject>&lol2;</subject></ticket_info>`
	huge := bytes.Repeat([]byte("A"), 1<<20+1)

	twoIDs := "<ticket_info><id>700043</id><id>999999</id><subject>x</subject></ticket_info>"
	jsonPair := func(first, second string) []byte { // two keys, both spelled out
		return []byte(`{"ticket_info":"` + b64(good) + `",` + first + `,` + second + `,"args":"","script":""}`)
	}

	type tc struct {
		name   string
		method string
		path   string
		ctype  string // Content-Type; default application/json, application/xml under /v1/; "-" none
		body   []byte
		auth   func(*http.Request)
		status int
		want   string // substring of the error output
	}
	cases := []tc{
		{name: "empty body", body: nil, status: 400, want: "empty"},
		{name: "broken JSON", body: []byte(`{"ticket_info": "abc", "event": `), status: 400, want: "not valid JSON"},
		{name: "JSON array", body: []byte(`[1,2,3]`), status: 400, want: "JSON"},
		{name: "JSON string", body: []byte(`"CREATE"`), status: 400, want: "JSON"},
		{name: "event of wrong type", body: []byte(`{"ticket_info":"` + b64(good) + `","event":5}`), status: 400, want: "event"},
		{name: "unescaped quote outside the mediator layout", body: []byte(`{"event":"CREATE","args":"say "hi"","ticket_info":"` + b64(good) + `"}`), status: 400, want: "does not escape args"},
		{name: "ticket_info missing", body: []byte(`{"event":"CREATE","args":"","script":""}`), status: 400, want: "ticket_info"},
		{name: "bad base64", body: jsonBody("%%%not-base64%%%", "CREATE"), status: 400, want: "base64"},
		{name: "event missing", body: []byte(`{"ticket_info":"` + b64(good) + `"}`), status: 400, want: "event"},
		{name: "unknown event", body: jsonBody(b64(good), "EXPLODE"), status: 400, want: `unknown trigger "EXPLODE"`},
		{name: "event in lower case", body: jsonBody(b64(good), "create"), status: 400, want: `did you mean "CREATE"`},
		{name: "bad XML", body: jsonBody(b64("<ticket_info><id>1</id><subject>x</subjct></ticket_info>"), "CREATE"), status: 400, want: "ticket_info XML"},
		{name: "not XML at all", body: jsonBody(b64("hello world"), "CREATE"), status: 400, want: "ticket_info XML"},
		{name: "missing id", body: jsonBody(b64("<ticket_info><subject>x</subject></ticket_info>"), "CREATE"), status: 400, want: "missing <id>"},
		{name: "non-numeric id", body: jsonBody(b64("<ticket_info><id>12a</id></ticket_info>"), "CREATE"), status: 400, want: "is not a ticket number"},
		{name: "id that would break a subject", body: jsonBody(b64("<ticket_info><id>1.></id></ticket_info>"), "CREATE"), status: 400, want: "is not a ticket number"},
		{name: "wrong root", body: jsonBody(b64("<ticket><id>1</id></ticket>"), "CREATE"), status: 400, want: "ticket"},
		{name: "trailing garbage", body: jsonBody(b64("<ticket_info><id>1</id></ticket_info><more/>"), "CREATE"), status: 400, want: "ticket_info XML"},
		{name: "DOCTYPE with entities", body: jsonBody(b64(laughs), "CREATE"), status: 400, want: "DOCTYPE"},
		{name: "deeply nested XML", body: jsonBody(b64(nested), "CREATE"), status: 400, want: "nesting deeper"},
		{name: "non-UTF-8 XML", body: jsonBody(b64("<ticket_info><id>1</id><subject>caf\xe9</subject></ticket_info>"), "CREATE"), status: 400, want: "UTF-8"},
		{name: "declared Latin-1 XML", body: jsonBody(b64(`<?xml version="1.0" encoding="ISO-8859-1"?><ticket_info><id>1</id></ticket_info>`), "CREATE"), status: 400, want: "encoding"},
		{name: "non-UTF-8 body", body: []byte("{\"ticket_info\":\"" + b64(good) + "\",\"event\":\"CREATE\",\"args\":\"caf\xe9\",\"script\":\"\"}"), status: 400, want: "UTF-8"},
		{name: "oversized body", body: huge, status: 413, want: "larger than 1048576 bytes"},
		{name: "no credentials", body: jsonBody(b64(good), "CREATE"), auth: func(r *http.Request) { r.Header.Set("X-No-Auth", "1") }, status: 401, want: "missing credentials"},
		{name: "wrong password", body: jsonBody(b64(good), "CREATE"), auth: func(r *http.Request) { r.SetBasicAuth(testUser, "guess") }, status: 401, want: "wrong user name or password"},
		{name: "wrong user", body: jsonBody(b64(good), "CREATE"), auth: func(r *http.Request) { r.SetBasicAuth("admin", testPassword) }, status: 401, want: "wrong user name or password"},
		{name: "bearer instead of basic", body: jsonBody(b64(good), "CREATE"), auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, status: 401, want: "missing credentials"},
		{name: "GET", method: http.MethodGet, status: 405, want: "method GET is not allowed"},
		{name: "PUT", method: http.MethodPut, body: jsonBody(b64(good), "CREATE"), status: 405, want: "method PUT is not allowed"},
		{name: "raw: unknown event", path: "/v1/triggers/EXPLODE", body: []byte(good), status: 400, want: `unknown trigger "EXPLODE"`},
		{name: "raw: bad XML", path: "/v1/triggers/CREATE", body: []byte("<ticket_info><id>1</id>"), status: 400, want: "ticket_info XML"},
		{name: "raw: no credentials", path: "/v1/triggers/CREATE", body: []byte(good), auth: func(r *http.Request) { r.Header.Set("X-No-Auth", "1") }, status: 401, want: "missing credentials"},
		{name: "raw: GET", path: "/v1/triggers/CREATE", method: http.MethodGet, status: 405, want: "not allowed"},
		{name: "raw: non-UTF-8 arg", path: "/v1/triggers/CREATE?arg=caf%E9", body: []byte(good), status: 400, want: "UTF-8"},

		// Duplicate keys: a JSON reader takes the last, so each order stored something else.
		{name: "duplicate event, TEST then CREATE", body: jsonPair(`"event":"TEST"`, `"event":"CREATE"`), status: 400, want: `duplicate key "event"`},
		{name: "duplicate event, CREATE then TEST", body: jsonPair(`"event":"CREATE"`, `"event":"TEST"`), status: 400, want: `duplicate key "event"`},
		{name: "duplicate ticket_info", body: []byte(`{"ticket_info":"` + b64(ticketXML("1", "2")) + `","event":"CREATE","ticket_info":"` + b64(good) + `"}`), status: 400, want: `duplicate key "ticket_info"`},
		{name: "duplicate event in another case", body: jsonPair(`"event":"TEST"`, `"Event":"CREATE"`), status: 400, want: `duplicate key "Event" in the body: it is the same field as "event"`},
		{name: "duplicate event, escaped", body: jsonPair(`"event":"TEST"`, `"\u0065vent":"CREATE"`), status: 400, want: `duplicate key "event"`},
		{name: "duplicate unknown key", body: jsonPair(`"event":"CREATE","x":1`, `"x":2`), status: 400, want: `duplicate key "x"`},

		// The ticket's own <id>: exactly one, a number from 1.
		{name: "two ticket ids", body: jsonBody(b64(twoIDs), "CREATE"), status: 400, want: "<ticket_info> has 2 <id> elements"},
		{name: "two ticket ids around a stage", body: jsonBody(b64("<ticket_info><id/><current_stage><id>3</id></current_stage><id>7</id></ticket_info>"), "CREATE"), status: 400, want: "has 2 <id> elements"},
		{name: "raw: two ticket ids", path: "/v1/triggers/CREATE", body: []byte(twoIDs), status: 400, want: "has 2 <id> elements"},
		{name: "ticket id 0", body: jsonBody(b64("<ticket_info><id>0</id></ticket_info>"), "CREATE"), status: 400, want: `<id> "0" is not a ticket number`},
		{name: "ticket id of zeros", body: jsonBody(b64("<ticket_info><id>0000</id></ticket_info>"), "ADVANCE"), status: 400, want: `<id> "0000" is not a ticket number`},
		{name: "raw: ticket id 0", path: "/v1/triggers/CREATE", body: []byte("<ticket_info><id>0</id></ticket_info>"), status: 400, want: "is not a ticket number"},

		// Paths are cleaned, then routed; no endpoint: 404 with the JSON error.
		{name: "unknown path", path: "/nope", body: jsonBody(b64(good), "CREATE"), status: 404, want: `no endpoint at "/nope": POST the mediator's JSON to /trigger_file`},
		{name: "unknown path after cleaning", path: "//v1//../nope", body: jsonBody(b64(good), "CREATE"), status: 404, want: `no endpoint at "/nope"`},
		{name: "endpoint with a trailing slash", path: "/trigger_file/", body: jsonBody(b64(good), "CREATE"), status: 404, want: `no endpoint at "/trigger_file/"`},
		{name: "raw endpoint without an event", path: "/v1/triggers/", body: []byte(good), status: 404, want: "no endpoint"},
		{name: "root", path: "/", method: http.MethodGet, status: 404, want: "no endpoint"},
		{name: "POST to a GET-only path", path: "/healthz", body: []byte("x"), status: 405, want: `method POST is not allowed on "/healthz": GET it`},

		// Content-Type: JSON on /trigger_file, XML on /v1/triggers/{EVENT}.
		{name: "text/plain", ctype: "text/plain", body: jsonBody(b64(good), "CREATE"), status: 415, want: `Content-Type "text/plain" is not JSON`},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: jsonBody(b64(good), "CREATE"), status: 415, want: `Content-Type "application/x-www-form-urlencoded" is not JSON`},
		{name: "multipart", ctype: "multipart/form-data; boundary=xyz", body: []byte("--xyz\r\n\r\n" + string(jsonBody(b64(good), "CREATE")) + "\r\n--xyz--\r\n"), status: 415, want: `"multipart/form-data" is not JSON`},
		{name: "XML on the JSON endpoint", ctype: "application/xml", body: jsonBody(b64(good), "CREATE"), status: 415, want: "is not JSON: send the mediator's JSON as Content-Type: application/json"},
		{name: "JSON in Latin-1", ctype: "application/json; charset=iso-8859-1", body: jsonBody(b64(good), "CREATE"), status: 415, want: "charset"},
		{name: "unparsable Content-Type", ctype: "json;;", body: jsonBody(b64(good), "CREATE"), status: 415, want: "is not a media type"},
		{name: "gzip", auth: func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") }, body: []byte("\x1f\x8b\x08\x00"), status: 415, want: `Content-Encoding "gzip" is not supported: send the body uncompressed`},
		{name: "raw: gzip", path: "/v1/triggers/CREATE", auth: func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") }, body: []byte("\x1f\x8b\x08\x00"), status: 415, want: `Content-Encoding "gzip" is not supported`},
		{name: "raw: declared Latin-1", path: "/v1/triggers/CREATE", body: []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><ticket_info><id>1</id><subject>caf\xe9</subject></ticket_info>"), status: 400, want: `its XML declaration says encoding="ISO-8859-1"; only UTF-8 is read`},
		{name: "two Content-Types", ctype: "application/json", auth: func(r *http.Request) { r.Header.Add("Content-Type", "text/plain") }, body: jsonBody(b64(good), "CREATE"), status: 400, want: "2 Content-Type headers"},
		{name: "raw: JSON", path: "/v1/triggers/CREATE", ctype: "application/json", body: []byte(good), status: 415, want: `Content-Type "application/json" is not XML: send the ticket_info XML as Content-Type: application/xml`},
		{name: "raw: form", path: "/v1/triggers/CREATE", ctype: "application/x-www-form-urlencoded", body: []byte(good), status: 415, want: "is not XML"},
		{name: "raw: text/plain", path: "/v1/triggers/CREATE", ctype: "text/plain; charset=utf-8", body: []byte(good), status: 415, want: "is not XML"},
	}
	if len(cases) < 25 {
		t.Fatalf("the table must keep at least 25 cases, has %d", len(cases))
	}
	before := g.msgs()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, path := c.method, c.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/trigger_file"
			}
			req, _ := http.NewRequest(method, g.URL+path, bytes.NewReader(c.body))
			switch {
			case c.ctype == "-":
			case c.ctype != "":
				req.Header.Set("Content-Type", c.ctype)
			case strings.HasPrefix(path, "/v1/"):
				req.Header.Set("Content-Type", "application/xml")
			default:
				req.Header.Set("Content-Type", "application/json")
			}
			if c.auth != nil {
				c.auth(req)
			}
			res := g.do(req)
			if res.Status != c.status {
				t.Fatalf("status %d, want %d: %s", res.Status, c.status, res)
			}
			if res.Reply.Error == nil || !strings.Contains(res.Reply.Error.Output, c.want) {
				t.Fatalf("error output does not name the problem (want %q): %s", c.want, res)
			}
			if res.Reply.Error.ReturnCode == 0 {
				t.Fatalf("returnCode 0 on a rejection: %s", res)
			}
			if strings.Contains(string(res.Body), testPassword) {
				t.Fatalf("password echoed: %s", res)
			}
			if n := g.msgs(); n != before {
				t.Fatalf("stream changed: %d messages, want %d", n, before)
			}
		})
	}
}

// TestRejectionStyles: the seed mediator (curl, `--fail`) never shows a 4xx body, so by
// default curl clients get 200 + {"error":{returnCode:65}}; credentials stay a 401.
func TestRejectionStyles(t *testing.T) {
	g := startIngress(t, "", nil)
	body := mediatorBody("EXPLODE", ticketXML("1", "2"), "", "")
	send := func(ua string, auth bool) response {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/trigger_file", bytes.NewReader(body))
		req.Header.Set("User-Agent", ua)
		if !auth {
			req.SetBasicAuth(testUser, "wrong")
		}
		return g.do(req)
	}
	if r := send("curl/7.88.1", true); r.Status != 200 || r.Reply.Error == nil || r.Reply.Error.ReturnCode != 65 || !strings.Contains(r.Reply.Error.Output, "EXPLODE") {
		t.Fatalf("curl client: %s", r)
	}
	if r := send("Go-http-client/1.1", true); r.Status != 400 {
		t.Fatalf("plain client: %s", r)
	}
	if r := send("curl/7.88.1", false); r.Status != 401 {
		t.Fatalf("curl client with a wrong password: %s", r)
	}
	s := startIngress(t, "", func(c *config.Config) { c.Ingress.Rejections = "status" })
	body = mediatorBody("EXPLODE", ticketXML("1", "2"), "", "")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/trigger_file", bytes.NewReader(body))
	req.Header.Set("User-Agent", "curl/7.88.1")
	if r := s.do(req); r.Status != 400 {
		t.Fatalf("rejections: status with curl: %s", r)
	}
	if g.msgs() != 0 || s.msgs() != 0 {
		t.Fatal("a rejected trigger was stored")
	}
}
