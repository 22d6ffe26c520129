package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Tracing configures OpenTelemetry tracing: one trace per trigger, from the mediator's
// POST through every JetStream hop (W3C traceparent in the message headers) to each
// ITSM, SecureChange and SMTP call. Off by default.
type Tracing struct {
	// Exporter is none (default: no spans are recorded) or otlp (OTLP over HTTP,
	// protobuf).
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector's base URL (https://collector:4318; spans go to
	// <endpoint>/v1/traces). Empty: the SDK's, from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// or OTEL_EXPORTER_OTLP_ENDPOINT, else https://localhost:4318.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (a tenant id, an API key). A value that is a
	// credential comes from value_env or value_file; values are never logged.
	Headers map[string]TracingHeader `yaml:"headers"`
	// Insecure sends spans over plain HTTP (no TLS). Logged at start.
	Insecure bool `yaml:"insecure"`
	// TLS towards the collector (CA, client certificate; insecure_skip_verify is
	// logged loudly at start).
	TLS ClientTLS `yaml:"tls"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (default 1). Parent based:
	// a trace already sampled upstream (a traceparent on the request) is followed.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName prefixes the resource's service.name: <service_name>-<command>
	// (triggerflow-all, triggerflow-itsm-sync, …). Default "triggerflow".
	ServiceName string `yaml:"service_name"`
}

// TracingHeader is one header sent to the collector: an inline value (not for
// credentials) or one read from an environment variable or a file.
type TracingHeader struct {
	Value     string `yaml:"value"`
	ValueEnv  string `yaml:"value_env"`
	ValueFile string `yaml:"value_file"`
}

// ValueRef is where a header's secret value lives.
func (h TracingHeader) ValueRef() SecretRef { return SecretRef{Env: h.ValueEnv, File: h.ValueFile} }

// Tracing exporters.
const (
	ExporterNone = "none"
	ExporterOTLP = "otlp"
)

// Enabled reports whether spans are exported.
func (t Tracing) Enabled() bool { return t.Exporter == ExporterOTLP }

// Ratio is the sample ratio (1 when unset).
func (t Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

// ResolveHeaders reads the headers' values (secrets from env or file). Errors name the
// key, never a value.
func (t Tracing) ResolveHeaders() (map[string]Secret, error) {
	out := make(map[string]Secret, len(t.Headers))
	for name, h := range t.Headers {
		if h.Value != "" {
			out[name] = NewSecret(h.Value)
			continue
		}
		s, err := h.ValueRef().ResolveAt("tracing.headers." + name + ".value")
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, nil
}

func (c *Config) setTracingDefaults() {
	t := &c.Tracing
	if t.Exporter == "" {
		t.Exporter = ExporterNone
	}
	if t.ServiceName == "" {
		t.ServiceName = "triggerflow"
	}
}

// credentialHeader reports whether a header name looks like it carries a credential,
// whose value must not be inline.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	return slices.ContainsFunc([]string{"auth", "token", "key", "secret", "password", "cookie"}, func(s string) bool { return strings.Contains(n, s) })
}

func (v *validator) tracing(t Tracing) {
	v.oneOf("tracing.exporter", t.Exporter, ExporterNone, ExporterOTLP)
	if t.SampleRatio != nil && (*t.SampleRatio < 0 || *t.SampleRatio > 1) {
		v.add("tracing.sample_ratio", fmt.Sprintf("%v is out of range (0 to 1)", *t.SampleRatio))
	}
	if strings.ContainsAny(t.ServiceName, " \t\r\n") {
		v.add("tracing.service_name", fmt.Sprintf("%q must not contain blanks", t.ServiceName))
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add("tracing.endpoint", "not an http(s) URL (e.g. https://otel-collector:4318)")
		case u.User != nil:
			v.add("tracing.endpoint", "must not hold credentials; use tracing.headers with value_env or value_file")
		case u.Scheme == "http" && !t.Insecure:
			v.add("tracing.endpoint", fmt.Sprintf("%q is plain http: set tracing.insecure: true to send spans unencrypted, or use https", u.Redacted()))
		case u.Scheme == "https" && t.Insecure:
			v.add("tracing.insecure", fmt.Sprintf("is true but tracing.endpoint %q is https: choose one", u.Redacted()))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		h := t.Headers[name]
		p := "tracing.headers." + name
		if !ValidHeaderName(name) {
			v.add(p, fmt.Sprintf("%q is not a valid header name", name))
			continue
		}
		n := countSet(h.Value != "", h.ValueEnv != "", h.ValueFile != "")
		switch {
		case n == 0:
			v.add(p, "set one of value, value_env and value_file")
		case n > 1:
			v.add(p, "set only one of value, value_env and value_file")
		case h.Value != "" && credentialHeader(name):
			v.add(p+".value", "inline secrets are not accepted; use value_env or value_file")
		case h.Value != "":
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				v.add(p+".value", "must not contain line breaks or NUL")
			}
		default:
			v.secret(p+".value", h.ValueRef())
		}
	}
	v.clientTLS("tracing.tls", t.TLS)
	if t.Insecure && t.TLS.Enabled() {
		v.add("tracing.tls", "is set but tracing.insecure sends plain HTTP: remove one")
	}
}

// warnings: settings that do nothing while tracing is off.
func (t Tracing) warnings(warn func(path, msg string)) {
	if t.Enabled() {
		return
	}
	if t.Endpoint != "" || len(t.Headers) > 0 {
		warn("tracing.exporter", "is none: tracing.endpoint and tracing.headers have no effect (set exporter: otlp)")
	}
}
