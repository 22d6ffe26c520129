package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReplayResendFlags: --help on stdout, exit 0; no start, both starts, a bad --since,
// --event or --ticket, no operation id: a clear error, exit 2, before any connection.
func TestReplayResendFlags(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"replay", "resend"} {
		if code, out, errOut := runCLI(cmd, "--help"); code != 0 || strings.Count(out, "Usage") != 1 || errOut != "" {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "--since TIME"},
		{[]string{"replay", "--since", "2h", "--from-seq", "3"}, "exclude each other"},
		{[]string{"replay", "--since", "yesterday"}, `--since "yesterday": want a duration before now`},
		{[]string{"replay", "--since", "-2h"}, `--since "-2h": want a duration before now`},
		{[]string{"replay", "--from-seq", "1", "--event", "BOGUS"}, "--event"},
		{[]string{"replay", "--from-seq", "1", "--ticket", "12.3"}, `--ticket "12.3": must be one subject token`},
		{[]string{"replay", "--from-seq", "1", "--ticket", "000"}, `--ticket: "000" is not a ticket number (ticket numbers start at 1)`},
		{[]string{"replay", "--from-seq", "1", "--id", "a b"}, "--id"},
		{[]string{"replay", "--from-seq", "1", "extra"}, `unexpected argument "extra"`},
		{[]string{"resend"}, "which operation?"},
		{[]string{"resend", "a.b"}, "not an operation id"},
		{[]string{"resend", "abc", "def"}, `unexpected argument "def"`},
	} {
		code, out, errOut := runCLI(c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

// TestReplayStartAndFilter: --since takes RFC 3339 or a duration ago; the filter reads
// the stored (partitioned) subjects; a stored subject maps back to the one published.
func TestReplayStartAndFilter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	cc, err := replayStart("2h", 0, now)
	if err != nil || cc.DeliverPolicy != jetstream.DeliverByStartTimePolicy || !cc.OptStartTime.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("--since 2h: %+v %v", cc, err)
	}
	cc, err = replayStart("2026-12-05T10:30:00+01:00", 0, now)
	if err != nil || !cc.OptStartTime.Equal(time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)) {
		t.Fatalf("--since RFC 3339: %+v %v", cc, err)
	}
	cc, err = replayStart("", 42, now)
	if err != nil || cc.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cc.OptStartSeq != 42 {
		t.Fatalf("--from-seq 42: %+v %v", cc, err)
	}
	for _, c := range []struct{ event, ticket, want string }{
		{"", "", "scw.trigger.*.*.*"},
		{"advance", "", "scw.trigger.advance.*.*"},
		{"CREATE", "1234", "scw.trigger.create.*.1234"},
		{"", "0001234", "scw.trigger.*.*.1234"}, // the ingress stores <id>0001234</id> as ticket 1234
	} {
		if got, err := replayFilter(c.event, c.ticket); err != nil || got != c.want {
			t.Errorf("replayFilter(%q, %q) = %q, %v; want %q", c.event, c.ticket, got, err, c.want)
		}
	}
	if s, ok := unpartitioned("scw.trigger.advance.7.1234"); !ok || s != "scw.trigger.advance.1234" {
		t.Errorf("unpartitioned: %q %v", s, ok)
	}
	if _, ok := unpartitioned("scw.trigger.advance.1234"); ok {
		t.Error("unpartitioned accepted a subject without a partition")
	}
	if id := newReplayID(now); !replayIDPattern.MatchString(id) || !strings.HasPrefix(id, "20261205T130000Z-") {
		t.Errorf("newReplayID = %q", id)
	}
}
