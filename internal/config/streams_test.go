package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestStreamLimits: streams.limits sets a stream's age and size field by field, the
// others keep events.DefaultLimits; the deprecated trigger_max_age still sets
// SCW_TRIGGERS' age, with a warning.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	def := events.DefaultLimits()
	tests := []struct {
		name    string
		src     string
		want    map[string]events.StreamLimits // streams that differ from the defaults
		warning string
	}{
		{name: "defaults", src: "log: {level: info}\n"},
		{
			name: "limits",
			src: `streams:
  limits:
    SCW_TRIGGERS: {max_age: 4380h, max_bytes: 20GiB}
    SCW_OPS: {max_bytes: 500MB}
    SCW_RESULTS: {max_age: 4400h}
    SCW_ALERTS: {max_bytes: unlimited}
`,
			want: map[string]events.StreamLimits{
				events.StreamTriggers: {MaxAge: 4380 * time.Hour, MaxBytes: 20 << 30},
				events.StreamOps:      {MaxAge: def[events.StreamOps].MaxAge, MaxBytes: 500_000_000},
				events.StreamResults:  {MaxAge: 4400 * time.Hour, MaxBytes: def[events.StreamResults].MaxBytes},
				events.StreamAlerts:   {MaxAge: def[events.StreamAlerts].MaxAge, MaxBytes: -1},
			},
		},
		{
			name:    "deprecated trigger_max_age",
			src:     "streams:\n  trigger_max_age: 720h\n",
			want:    map[string]events.StreamLimits{events.StreamTriggers: {MaxAge: 30 * day, MaxBytes: def[events.StreamTriggers].MaxBytes}},
			warning: "2 streams.trigger_max_age: is deprecated: write streams.limits.SCW_TRIGGERS.max_age instead",
		},
		{
			name:    "both, the same",
			src:     "streams:\n  trigger_max_age: 720h\n  limits:\n    SCW_TRIGGERS: {max_age: 720h}\n",
			want:    map[string]events.StreamLimits{events.StreamTriggers: {MaxAge: 30 * day, MaxBytes: def[events.StreamTriggers].MaxBytes}},
			warning: "2 streams.trigger_max_age: is deprecated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Streams.StreamLimits()
			if len(got) != len(def) {
				t.Errorf("limits of %d streams, want %d: %v", len(got), len(def), got)
			}
			for name, d := range def {
				w, ok := tt.want[name]
				if !ok {
					w = d
				}
				if got[name] != w {
					t.Errorf("%s = %+v, want %+v", name, got[name], w)
				}
			}
			var warns []string
			for _, w := range cfg.Warnings {
				warns = append(warns, fmt.Sprintf("%d %s: %s", w.Line, w.Path, w.Msg))
			}
			switch {
			case tt.warning == "" && len(warns) > 0:
				t.Errorf("unexpected warnings %q", warns)
			case tt.warning != "" && (len(warns) != 1 || !strings.HasPrefix(warns[0], tt.warning)):
				t.Errorf("warnings %q, want one starting %q", warns, tt.warning)
			}
		})
	}
}

// TestStreamLimitProblems: each mistake in the stream knobs is reported with its key,
// its line and why.
func TestStreamLimitProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown stream", "streams:\n  limits:\n    SCW_TRIGGER: {max_age: 1h}\n",
			[]string{`3 streams.limits.SCW_TRIGGER: "SCW_TRIGGER" is not a stream; the streams are SCW_TRIGGERS, SCW_OPS`}},
		{"unknown key", "streams:\n  limits:\n    SCW_OPS: {max_size: 1GiB}\n",
			[]string{"3 streams.limits.SCW_OPS.max_size: not a known key (known keys: max_age, max_bytes)"}},
		{"negative size", "streams:\n  limits:\n    SCW_OPS:\n      max_bytes: -1GiB\n",
			[]string{`4 : "-1GiB" is not a size: a size cannot be negative`}},
		{"unparsable size", "streams:\n  limits:\n    SCW_OPS: {max_bytes: 10 gigs}\n    SCW_PLANS: {max_bytes: [1]}\n",
			[]string{`3 : "10 gigs" is not a size: unknown unit "gigs"`, "4 : a size must be a scalar"}},
		{"tiny size", "streams:\n  limits:\n    SCW_OPS: {max_bytes: 4KiB}\n",
			[]string{"3 streams.limits.SCW_OPS.max_bytes: 4KiB is below 1MiB"}},
		{"negative age", "streams:\n  limits:\n    SCW_RESULTS: {max_age: -1h}\n",
			[]string{"3 streams.limits.SCW_RESULTS.max_age: -1h0m0s must be positive"}},
		{"negative deprecated age", "streams:\n  trigger_max_age: -1s\n",
			[]string{"2 streams.trigger_max_age: -1s must be positive"}},
		{"duplicates longer than the triggers' age", "streams:\n  duplicates: 2h\n  limits:\n    SCW_TRIGGERS: {max_age: 1h}\n",
			[]string{"2 streams.duplicates: 2h0m0s is longer than streams.limits.SCW_TRIGGERS.max_age 1h0m0s"}},
		{"duplicates longer than the deprecated age", "streams:\n  duplicates: 2h\n  trigger_max_age: 1h\n",
			[]string{"2 streams.duplicates: 2h0m0s is longer than streams.limits.SCW_TRIGGERS.max_age 1h0m0s"}},
		{"duplicates too short", "streams:\n  duplicates: 1m\n",
			[]string{"2 streams.duplicates: 1m0s is below the minimum 10m0s"}},
		{"both ages, different", "streams:\n  trigger_max_age: 720h\n  limits:\n    SCW_TRIGGERS: {max_age: 1440h}\n",
			[]string{"2 streams.trigger_max_age: 720h0m0s contradicts streams.limits.SCW_TRIGGERS.max_age 1440h0m0s"}},
		{"ops shorter than a retry", "streams:\n  limits:\n    SCW_OPS: {max_age: 12h}\n",
			[]string{"3 streams.limits.SCW_OPS.max_age: 12h0m0s is shorter than 24h0m0s: itsm_sync.retry.max_age retries an operation that long"}},
		{"ops shorter than a server's retry", "streams:\n  limits:\n    SCW_OPS:\n      max_age: 48h\nservers:\n  snow:\n    base_url: https://snow.example\n    retry: {max_age: 72h}\n",
			[]string{"4 streams.limits.SCW_OPS.max_age: 48h0m0s is shorter than 72h0m0s: servers.snow.retry.max_age retries"}},
		{"triggers outlive their results (the done markers)", "streams:\n  limits:\n    SCW_TRIGGERS: {max_age: 9000h}\n",
			[]string{"2 streams.limits.SCW_RESULTS.max_age: 8760h0m0s is shorter than 9000h0m0s: an operation's succeeded or skipped result is its done marker, and a replay of a trigger older than its results would perform its operations again (streams.limits.SCW_TRIGGERS.max_age)"}},
		{"results shorter than operations", "streams:\n  limits:\n    SCW_RESULTS: {max_age: 500h}\n    SCW_TRIGGERS: {max_age: 400h}\n",
			[]string{"3 streams.limits.SCW_RESULTS.max_age: 500h0m0s is shorter than 720h0m0s: an operation's succeeded or skipped result is its done marker, and a redelivery or resend"}},
		{"results kept shorter than the hold markers need", "itsm_sync:\n  retry: {max_age: 10m}\nstreams:\n  limits:\n    SCW_TRIGGERS: {max_age: 30m}\n    SCW_OPS: {max_age: 30m}\n    SCW_RESULTS: {max_age: 30m}\n",
			[]string{"7 streams.limits.SCW_RESULTS.max_age: 30m0s is shorter than 1h0m0s: it holds the lanes' hold markers, republished every 10m0s"}},
		{"dead letters outlive their redrive records", "streams:\n  limits:\n    SCW_DLQ: {max_age: 4000h}\n    SCW_PARKED: {max_age: 4000h}\n",
			[]string{"3 streams.limits.SCW_DLQ.max_age: 4000h0m0s is longer than 2160h0m0s: the redrive records (scw_redrives)"}},
		{"parked shorter than dead letters", "streams:\n  limits:\n    SCW_PARKED: {max_age: 720h}\n",
			[]string{"3 streams.limits.SCW_PARKED.max_age: 720h0m0s is shorter than 2160h0m0s: operations parked behind a dead letter"}},
		{"alerts shorter than their retries", "streams:\n  limits:\n    SCW_ALERTS: {max_age: 720h}\n",
			[]string{"3 streams.limits.SCW_ALERTS.max_age: 720h0m0s is shorter than 2160h0m0s: failure alerts are retried"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkProblems(t, tt.src, tt.want)
		})
	}
}

// TestParseByteSize: the units, their powers, and what is refused.
func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for _, tt := range byteSizeCases {
		got, err := config.ParseByteSize(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseByteSize(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if err == nil && got >= 0 {
			if back, err := config.ParseByteSize(got.String()); err != nil || back != got {
				t.Errorf("%q: String %q reads back as %d, %v", tt.in, got.String(), back, err)
			}
		}
	}
	for in, want := range map[config.ByteSize]string{16 << 30: "16GiB", 1536 << 10: "1536KiB", 100: "100B", 0: "0B", -1: "unlimited", 1 << 40: "1TiB"} {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

var byteSizeCases = []struct {
	in   string
	want config.ByteSize
	err  string
}{
	{in: "1048576", want: 1 << 20},
	{in: "0", want: 0},
	{in: "100B", want: 100},
	{in: "10GiB", want: 10 << 30},
	{in: "10gib", want: 10 << 30},
	{in: "10Gi", want: 10 << 30},
	{in: "64Ki", want: 64 << 10},
	{in: "3 MiB", want: 3 << 20},
	{in: " 2TiB ", want: 2 << 40},
	{in: "500MB", want: 500_000_000},
	{in: "500M", want: 500_000_000},
	{in: "1kB", want: 1000},
	{in: "2TB", want: 2_000_000_000_000},
	{in: "unlimited", want: -1},
	{in: "Unlimited", want: -1},
	{in: "-1", err: "negative"},
	{in: "-5GiB", err: "negative"},
	{in: "", err: "want digits"},
	{in: "GiB", err: "want digits"},
	{in: "1.5GiB", err: "unknown unit"},
	{in: "10 gigs", err: "unknown unit"},
	{in: "10GiBs", err: "unknown unit"},
	{in: "0x10", err: "unknown unit"},
	{in: "9223372036854775807", want: 9223372036854775807},
	{in: "9223372036854775808", err: "too large"},
	{in: "8388608TiB", err: "too large"},
	{in: "8388607TiB", want: 8388607 << 40},
}

// FuzzParseByteSize: no input panics the parser; an accepted size is not negative
// (except unlimited) and reads back from its String.
func FuzzParseByteSize(f *testing.F) {
	for _, c := range byteSizeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := config.ParseByteSize(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if n < -1 || (n == -1 && !strings.EqualFold(strings.TrimSpace(s), "unlimited")) {
			t.Fatalf("ParseByteSize(%q) = %d", s, n)
		}
		if n >= 0 {
			if back, err := config.ParseByteSize(n.String()); err != nil || back != n {
				t.Fatalf("ParseByteSize(%q) = %d, whose String %q reads back as %d, %v", s, n, n.String(), back, err)
			}
		}
	})
}

// TestExampleStreamLimits: examples/triggerflow.yaml lists every stream's limits, and
// says they are the defaults: they are.
func TestExampleStreamLimits(t *testing.T) {
	t.Setenv("TRIGGERFLOW_MEDIATOR_PASSWORD", "x")
	cfg, err := config.Load("../../examples/triggerflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, def := cfg.Streams.StreamLimits(), events.DefaultLimits()
	for name, d := range def {
		if got[name] != d {
			t.Errorf("example %s = %+v, the default is %+v", name, got[name], d)
		}
		if cfg.Line("streams.limits."+name) == 0 {
			t.Errorf("the example does not list %s", name)
		}
	}
}
