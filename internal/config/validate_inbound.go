package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxHMACWindow bounds servers.<name>.inbound.auth.hmac.window: a longer window lets a
// captured callback be replayed for longer than JetStream's dedup window remembers it.
const maxHMACWindow = time.Hour

// inbound checks servers.<name>.inbound, the server's callback endpoint on the ingress:
// its path (literal, unique, clear of the ingress's own endpoints), at most one auth
// method with its secret readable, the JSON paths and the body limit. No auth at all is
// not a problem here, like an empty ingress.users: the ingress refuses it unless --dev.
func (v *validator) inbound(c *Config, name string) {
	in := c.Servers[name].Inbound
	if in == nil {
		return
	}
	path := "servers." + name + ".inbound"
	v.inboundPath(path+".path", c, name, in.Path)
	v.inboundAuth(path+".auth", in.Auth)
	for _, p := range []struct{ key, val string }{
		{"id", in.ID}, {"ticket", in.Ticket}, {"record", in.Record}, {"record_key", in.RecordKey},
	} {
		if p.val != "" && strings.TrimSpace(p.val) != p.val {
			v.add(path+"."+p.key, fmt.Sprintf("%q must not be blank or start or end with white space", p.val))
		}
	}
	if in.RecordKey != "" && in.Record == "" {
		v.add(path+".record_key", fmt.Sprintf("%q is set but record is not: set record (the JSON path of the record's value)", in.RecordKey))
	}
	switch {
	case in.MaxBodyBytes <= 0:
		v.add(path+".max_body_bytes", fmt.Sprintf("%d must be positive", in.MaxBodyBytes))
	case in.MaxBodyBytes > 64<<20:
		v.add(path+".max_body_bytes", fmt.Sprintf("%d is larger than 67108864 (64MiB), the ingress's largest body", in.MaxBodyBytes))
	}
}

// inboundPath checks an inbound endpoint's path: a literal path that no other server's
// endpoint and none of the ingress's own endpoints use.
func (v *validator) inboundPath(key string, c *Config, name, p string) {
	switch {
	case !pathRE.MatchString(p):
		v.add(key, fmt.Sprintf("%q must start with / and hold only letters, digits and . _ ~ - /", p))
		return
	case p == "/" || p == c.Ingress.Path || p == "/v1/triggers" || strings.HasPrefix(p, "/v1/triggers/") ||
		p == "/healthz" || p == "/readyz" || p == "/metrics":
		v.add(key, fmt.Sprintf("%q clashes with the ingress's own endpoints (ingress.path %s, /v1/triggers/, /healthz, /readyz, /metrics)", p, c.Ingress.Path))
		return
	}
	for _, other := range slices.Sorted(maps.Keys(c.Servers)) {
		if other == name {
			return // reported on the later of the two only
		}
		if o := c.Servers[other].Inbound; o != nil && o.Path == p {
			v.add(key, fmt.Sprintf("%q is already servers.%s.inbound.path", p, other))
			return
		}
	}
}

// inboundAuth checks servers.<name>.inbound.auth: at most one method, secrets from env or
// files, HMAC headers and window.
func (v *validator) inboundAuth(path string, a InboundAuth) {
	if countSet(a.Basic != nil, a.Bearer != nil, a.HMAC != nil) > 1 {
		v.add(path, "set exactly one of basic, bearer and hmac")
	}
	if b := a.Basic; b != nil {
		p := path + ".basic"
		v.basicAuthUser(p+".user", b.User, b.UserEnv)
		v.inlineOr(p+".password", b.Password != "", b.PasswordRef())
	}
	if b := a.Bearer; b != nil {
		p := path + ".bearer"
		v.inlineOr(p+".token", b.Token != "", b.TokenRef())
		v.headerScheme(p, b.Header, b.Scheme)
	}
	if h := a.HMAC; h != nil {
		p := path + ".hmac"
		v.inlineOr(p+".secret", h.Secret != "", h.SecretRef())
		for _, hd := range []struct{ key, val string }{
			{"signature_header", h.SignatureHeader}, {"timestamp_header", h.TimestampHeader},
		} {
			if !ValidHeaderName(hd.val) {
				v.add(p+"."+hd.key, fmt.Sprintf("%q is not a valid header name", hd.val))
			}
		}
		if h.SignatureHeader != "" && strings.EqualFold(h.SignatureHeader, h.TimestampHeader) {
			v.add(p+".timestamp_header", fmt.Sprintf("%q is also the signature_header", h.TimestampHeader))
		}
		switch {
		case h.Window <= 0:
			v.add(p+".window", fmt.Sprintf("%v must be positive", h.Window))
		case h.Window > maxHMACWindow:
			v.add(p+".window", fmt.Sprintf("%v is longer than %v: a captured callback could be replayed that long", h.Window, maxHMACWindow))
		}
	}
}

// inlineOr rejects an inline secret (inline set) and otherwise checks that ref can be read.
func (v *validator) inlineOr(path string, inline bool, ref SecretRef) {
	if inline {
		k := lastKey(path)
		v.add(path, fmt.Sprintf("inline secrets are not accepted; use %s_env or %s_file", k, k))
		return
	}
	v.secret(path, ref)
}
