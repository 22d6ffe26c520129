package egress

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"99999999999999", time.Minute, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{"Mon, 23 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Minute, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	} {
		got, ok := RetryAfter(tc.h, now, time.Minute)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryAfter(%q) = %s, %v; want %s, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSnippet(t *testing.T) {
	for _, tc := range []struct{ in, want, leak string }{
		{`{"error":"bad","password":"hunter2"}`, `"password":[REDACTED]`, "hunter2"},
		{`Authorization: Bearer abc.def.ghi`, "[REDACTED]", "abc.def.ghi"},
		{`Basic authentication required`, "Basic authentication required", ""},
		{`see https://u:pw@host/x`, "https://[REDACTED]@host/x", "u:pw"},
		{`<token>s3cr3t</token>`, "<token>[REDACTED]", "s3cr3t"},
		{`the literal LITERAL-SECRET here`, "[REDACTED]", "LITERAL-SECRET"},
		{"plain\n\tbody", "plain body", ""},
	} {
		got := Snippet([]byte(tc.in), []string{"LITERAL-SECRET"}, 200)
		if !strings.Contains(got, tc.want) || (tc.leak != "" && strings.Contains(got, tc.leak)) {
			t.Errorf("Snippet(%q) = %q, want it to contain %q and not %q", tc.in, got, tc.want, tc.leak)
		}
	}
	if got := Snippet([]byte(strings.Repeat("é", 300)), nil, 11); len(got) > 11+len("…") || !utf8.ValidString(got) {
		t.Errorf("not bounded or not UTF-8: %q", got)
	}
}

// FuzzSnippet: any body, any secret: the result is bounded, valid UTF-8, on one line, and
// never contains the literal secret.
func FuzzSnippet(f *testing.F) {
	f.Add([]byte(`{"password":"hunter2","token":"abc"}`), "hunter2", 64)
	f.Add([]byte("Authorization: Basic dXNlcjpwYXNz\r\n"), "dXNlcjpwYXNz", 200)
	f.Add([]byte("\xff\xfe<secret>x</secret>"), "x", 5)
	f.Fuzz(func(t *testing.T, body []byte, secret string, n int) {
		n = n%1024 + 1
		if n < 0 {
			n = -n
		}
		got := Snippet(body, []string{secret}, n)
		if len(got) > n+len("…") || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r") {
			t.Fatalf("Snippet = %q (max %d)", got, n)
		}
		if len(secret) >= 4 && !strings.Contains("[REDACTED]…\uFFFD", secret) && strings.Contains(got, secret) &&
			strings.Contains(string(body[:min(len(body), maxSnippetRead)]), secret) && utf8.ValidString(secret) && !strings.ContainsAny(secret, " \t\n\r\v\f") {
			t.Fatalf("Snippet leaks %q: %q", secret, got)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Mon, 23 Nov 2026 12:00:30 GMT")
	f.Add("-5")
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := RetryAfter(h, time.Now(), time.Minute)
		if d < 0 || d > time.Minute || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %s, %v", h, d, ok)
		}
	})
}
