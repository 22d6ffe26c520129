// Package egress holds what every outbound HTTP client of triggerflow shares: TLS from
// config, backoff with jitter, Retry-After, certificate-error detection, and quoting a
// response body with its secrets stripped.
package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TLSConfig builds the client TLS configuration of t, whose config key is path (e.g.
// "servers.snow.tls"), as config.Validate accepted it (config checks the same files);
// errors, from reading the files now, name the key. Verification is on unless
// t.InsecureSkipVerify, which is logged at WARN on log with risk, a sentence saying what
// an attacker on the path gains. CAFile, when set, replaces the system roots (like curl
// --cacert); CertFile/KeyFile present a client certificate (mTLS).
func TLSConfig(path string, t config.ClientTLS, log *slog.Logger, risk string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", path, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: %q holds no PEM certificate", path, t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file/key_file: %w", path, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
		if log != nil {
			log.Warn(path + ".insecure_skip_verify is on: the server's certificate is NOT verified; " + risk)
		}
	}
	return tc, nil
}

// IsCertError reports whether err is a server certificate that did not verify.
func IsCertError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// Backoff is the wait before retry number retry+1: base doubled retry times, ±20 %
// jitter, at most maxWait.
func Backoff(base, maxWait time.Duration, retry int) time.Duration {
	d := base
	for i := 0; i < retry && d < maxWait; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, maxWait)) * (0.8 + 0.4*rand.Float64()))
	return min(d, maxWait)
}

// RetryAfter parses a Retry-After header (delay seconds or an HTTP date), clamped to
// [0, maxWait]. ok is false when the header is absent or unreadable.
func RetryAfter(h string, now time.Time, maxWait time.Duration) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(maxWait/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), maxWait), true
	}
	return 0, false
}

// maxSnippetRead is how much of a body Snippet looks at.
const maxSnippetRead = 4 << 10

var (
	// "password": "x", password=x, api_key: x, ...
	secretKV = regexp.MustCompile(`(?i)("?[a-z0-9_.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|credentials?|session[_-]?id|jsessionid|cookie|auth)[a-z0-9_.-]*"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s&,;}"'<]+)`)
	// Authorization: Basic xxx, Bearer xxx, ... (a plain word after it is prose: see Snippet)
	secretScheme = regexp.MustCompile(`(?i)\b(basic|bearer|negotiate)(\s+)([a-z0-9+/=._~-]{6,})`)
	plainWord    = regexp.MustCompile(`^[A-Z]?[a-z]+$`)
	// <password>x</password>
	secretXML = regexp.MustCompile(`(?i)(<[a-z0-9_:.-]*(?:passw(?:or)?d|secret|token|api[_-]?key)[a-z0-9_:.-]*>)[^<]*`)
	// scheme://user:password@host
	secretUserinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@`)
	spaces         = regexp.MustCompile(`[\s\p{Cc}]+`)
)

// Snippet returns at most maxLen bytes of body, on one line, as valid UTF-8, with the
// literal secrets and anything that looks like a credential replaced by [REDACTED].
func Snippet(body []byte, secrets []string, maxLen int) string {
	s := string(body[:min(len(body), max(maxSnippetRead, maxLen))])
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	if mayHoldSecret(s) { // the regular expressions are the expensive part: most bodies have no cue
		s = secretUserinfo.ReplaceAllString(s, "${1}[REDACTED]@")
		s = secretScheme.ReplaceAllStringFunc(s, func(m string) string {
			g := secretScheme.FindStringSubmatch(m)
			if plainWord.MatchString(g[3]) {
				return m // "Basic authentication required"
			}
			return g[1] + g[2] + "[REDACTED]"
		})
		s = secretXML.ReplaceAllString(s, "${1}[REDACTED]")
		s = secretKV.ReplaceAllString(s, "${1}[REDACTED]")
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	if len(s) <= maxLen {
		return s
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// secretCues are the lower-case fragments without which no secret pattern can match.
var secretCues = []string{"pass", "pwd", "secret", "token", "key", "cred", "session", "cookie", "auth", "basic", "bearer", "negotiate", "://"}

// mayHoldSecret reports whether s contains a cue of any secret pattern (case-insensitive).
func mayHoldSecret(s string) bool {
	l := strings.ToLower(s)
	for _, c := range secretCues {
		if strings.Contains(l, c) {
			return true
		}
	}
	return false
}
