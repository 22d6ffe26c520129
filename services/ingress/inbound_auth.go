package ingress

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// callbackAuth authenticates an ITSM's callbacks (servers.<name>.inbound.auth). Secrets
// are kept as digests or keys, compared in constant time, and never put in a message.
type callbackAuth interface {
	// header checks what the request's headers carry, before the body is read; it
	// returns the authenticated user ("" when the method has none).
	header(r *http.Request, now time.Time) (string, *InputError)
	// body checks what depends on the body (a signature of it).
	body(r *http.Request, body []byte) *InputError
	// challenge is the WWW-Authenticate header of a 401, "" for none.
	challenge() string
}

// newCallbackAuth resolves the secrets of one server's inbound auth (path is its key,
// for errors). Without a method it returns nil: only allowed with --dev.
func newCallbackAuth(path string, a config.InboundAuth) (callbackAuth, error) {
	switch {
	case a.Basic != nil:
		b := a.Basic
		user, err := config.ResolveUser(path+".basic.user", b.User, b.UserEnv)
		if err != nil {
			return nil, err
		}
		pw, err := b.PasswordRef().ResolveAt(path + ".basic.password")
		if err != nil {
			return nil, err
		}
		return basicCallbackAuth{&authenticator{users: []credential{newCredential(user, pw.Reveal())}}}, nil
	case a.Bearer != nil:
		b := a.Bearer
		tok, err := b.TokenRef().ResolveAt(path + ".bearer.token")
		if err != nil {
			return nil, err
		}
		header := http.CanonicalHeaderKey(defaultString(b.Header, "Authorization"))
		scheme := b.Scheme
		if scheme == "" && header == "Authorization" {
			scheme = "Bearer"
		}
		return bearerCallbackAuth{name: header, scheme: scheme, token: sha256.Sum256([]byte(tok.Reveal()))}, nil
	case a.HMAC != nil:
		h := a.HMAC
		secret, err := h.SecretRef().ResolveAt(path + ".hmac.secret")
		if err != nil {
			return nil, err
		}
		return hmacCallbackAuth{
			key: []byte(secret.Reveal()), sigHeader: h.SignatureHeader, tsHeader: h.TimestampHeader, window: h.Window,
		}, nil
	}
	return nil, nil
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func unauthorized(format string, args ...any) *InputError {
	return &InputError{Status: http.StatusUnauthorized, Msg: fmt.Sprintf(format, args...)}
}

// basicCallbackAuth is HTTP basic authentication with one user (the ingress's own check).
type basicCallbackAuth struct{ users *authenticator }

func (a basicCallbackAuth) header(r *http.Request, _ time.Time) (string, *InputError) {
	return a.users.check(r)
}
func (basicCallbackAuth) body(*http.Request, []byte) *InputError { return nil }
func (basicCallbackAuth) challenge() string                      { return `Basic realm="triggerflow", charset="UTF-8"` }

// bearerCallbackAuth is a static token in a header, after a scheme ("Bearer") or alone.
type bearerCallbackAuth struct {
	name, scheme string // the header and the scheme
	token        [sha256.Size]byte
}

func (a bearerCallbackAuth) header(r *http.Request, _ time.Time) (string, *InputError) {
	v := r.Header.Get(a.name)
	if a.scheme != "" {
		s, tok, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(s, a.scheme) {
			return "", unauthorized("missing credentials: send %s: %s <token>", a.name, a.scheme)
		}
		v = tok
	}
	if v = strings.TrimSpace(v); v == "" {
		return "", unauthorized("missing credentials: send the token in %s", a.name)
	}
	got := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare(got[:], a.token[:]) != 1 {
		return "", unauthorized("wrong token")
	}
	return "", nil
}
func (bearerCallbackAuth) body(*http.Request, []byte) *InputError { return nil }
func (a bearerCallbackAuth) challenge() string {
	if a.name == "Authorization" {
		return a.scheme + ` realm="triggerflow"`
	}
	return ""
}

// hmacCallbackAuth checks HMAC-SHA256(key, timestamp + "." + body), in hex (optionally
// prefixed "sha256=") or base64, with the timestamp (Unix seconds) within window of now.
type hmacCallbackAuth struct {
	key                 []byte
	sigHeader, tsHeader string
	window              time.Duration
}

func (a hmacCallbackAuth) header(r *http.Request, now time.Time) (string, *InputError) {
	ts, sig := r.Header.Get(a.tsHeader), r.Header.Get(a.sigHeader)
	switch {
	case ts == "" && sig == "":
		return "", unauthorized("missing credentials: sign the body (%s and %s headers)", a.sigHeader, a.tsHeader)
	case ts == "":
		return "", unauthorized("missing %s header", a.tsHeader)
	case sig == "":
		return "", unauthorized("missing %s header", a.sigHeader)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", unauthorized("%s %s is not a time in Unix seconds", a.tsHeader, quoteShort(ts))
	}
	switch at := time.Unix(secs, 0); {
	case at.Before(now.Add(-a.window)):
		return "", unauthorized("timestamp too old (window %s)", a.window)
	case at.After(now.Add(a.window)):
		return "", unauthorized("timestamp too far in the future (window %s)", a.window)
	}
	return "", nil
}

func (a hmacCallbackAuth) body(r *http.Request, body []byte) *InputError {
	sig := strings.TrimPrefix(strings.TrimSpace(r.Header.Get(a.sigHeader)), "sha256=")
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(r.Header.Get(a.tsHeader)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	// Hex (most webhooks), or standard base64 (what ServiceNow's
	// GlideCertificateEncryption.generateMac returns).
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != len(want) {
		got, err = base64.StdEncoding.DecodeString(sig)
	}
	if err != nil || !hmac.Equal(got, want) {
		return unauthorized("bad signature: want hex or base64 of HMAC-SHA256(secret, %s + \".\" + body) in %s", a.tsHeader, a.sigHeader)
	}
	return nil
}
func (hmacCallbackAuth) challenge() string { return "" }
