package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// StreamLimit is what one stream keeps (streams.limits.<STREAM>): messages older than
// MaxAge, and the oldest beyond MaxBytes, are removed. Zero fields take the stream's
// default (events.DefaultLimits).
type StreamLimit struct {
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes ByteSize      `yaml:"max_bytes"` // 10GiB, 500MB, 1048576 or unlimited
}

// MinStreamBytes is the smallest max_bytes accepted: below it a stream keeps only its last
// few messages.
const MinStreamBytes = 1 << 20

// setStreamDefaults fills streams.limits: every stream, every field, from the deprecated
// streams.trigger_max_age (SCW_TRIGGERS' age, when limits does not give it) and then
// events.DefaultLimits. Names that are not streams are kept for Validate to report.
func (c *Config) setStreamDefaults() {
	s := &c.Streams
	if s.Limits == nil {
		s.Limits = map[string]StreamLimit{}
	}
	if l := s.Limits[events.StreamTriggers]; l.MaxAge == 0 && s.TriggerMaxAge != 0 {
		l.MaxAge = s.TriggerMaxAge
		s.Limits[events.StreamTriggers] = l
	}
	for name, def := range events.DefaultLimits() {
		l := s.Limits[name]
		if l.MaxAge == 0 {
			l.MaxAge = def.MaxAge
		}
		if l.MaxBytes == 0 {
			l.MaxBytes = ByteSize(def.MaxBytes)
		}
		s.Limits[name] = l
	}
}

// StreamLimits are the limits of every stream, for events.StreamOptions.
func (s Streams) StreamLimits() map[string]events.StreamLimits {
	out := make(map[string]events.StreamLimits, len(s.Limits))
	for name, l := range s.Limits {
		out[name] = events.StreamLimits{MaxAge: l.MaxAge, MaxBytes: int64(l.MaxBytes)}
	}
	return out
}

// streams checks streams.*: known stream names, positive ages, sizes the server can use,
// the dedup window inside every stream's age, and each stream kept as long as what
// relies on it:
//   - SCW_OPS at least as long as any retry.max_age (an operation is retried from it);
//   - SCW_RESULTS at least as long as SCW_TRIGGERS and SCW_OPS (a succeeded or skipped
//     result is its operation's done marker: a replay of an older trigger, or a
//     redelivery of an older operation, would perform it again);
//   - SCW_DLQ no longer than the scw_redrives records (a dead letter could be redriven
//     twice), SCW_PARKED at least as long as SCW_DLQ (what waits behind a dead letter
//     goes with it) and SCW_ALERTS as long as the alerts are retried.
func (v *validator) streams(c *Config) {
	s := &c.Streams
	if s.Duplicates < MinDuplicates {
		v.add("streams.duplicates", fmt.Sprintf("%s is below the minimum %s: SecureChange's retries of one trigger must fall inside the dedup window", s.Duplicates, MinDuplicates))
	}
	if s.TriggerMaxAge < 0 {
		v.add("streams.trigger_max_age", fmt.Sprintf("%s must be positive", s.TriggerMaxAge))
	} else if trig := s.Limits[events.StreamTriggers].MaxAge; s.TriggerMaxAge != 0 && trig != s.TriggerMaxAge {
		v.add("streams.trigger_max_age", fmt.Sprintf("%s contradicts streams.limits.%s.max_age %s: remove the deprecated trigger_max_age", s.TriggerMaxAge, events.StreamTriggers, trig))
	}
	names := events.StreamNames()
	for _, name := range slices.Sorted(maps.Keys(s.Limits)) {
		l := s.Limits[name]
		p := "streams.limits." + name
		if !slices.Contains(names, name) {
			v.add(p, fmt.Sprintf("%q is not a stream; the streams are %s", name, strings.Join(names, ", ")))
			continue
		}
		if name == events.StreamTriggers && s.TriggerMaxAge < 0 {
			continue // reported above
		}
		if l.MaxAge <= 0 {
			v.add(p+".max_age", fmt.Sprintf("%s must be positive", l.MaxAge))
			continue
		}
		if l.MaxBytes > 0 && l.MaxBytes < MinStreamBytes {
			v.add(p+".max_bytes", fmt.Sprintf("%s is below %s: the stream would keep only its last few messages", l.MaxBytes, ByteSize(MinStreamBytes)))
		}
		if s.Duplicates > l.MaxAge {
			v.add("streams.duplicates", fmt.Sprintf("%s is longer than %s.max_age %s: the dedup window must fit inside every stream's age", s.Duplicates, p, l.MaxAge))
		}
	}
	age := func(name string) time.Duration { return s.Limits[name].MaxAge }
	ageKey := func(name string) string {
		if name == events.StreamTriggers && s.TriggerMaxAge != 0 && age(name) == s.TriggerMaxAge {
			return "streams.trigger_max_age"
		}
		return "streams.limits." + name + ".max_age"
	}
	tooShort := func(name string, need time.Duration, why string) {
		if a := age(name); a > 0 && a < need {
			v.add(ageKey(name), fmt.Sprintf("%s is shorter than %s: %s", a, need, why))
		}
	}
	tooLong := func(name string, most time.Duration, why string) {
		if a := age(name); a > most {
			v.add(ageKey(name), fmt.Sprintf("%s is longer than %s: %s", a, most, why))
		}
	}

	retryKey, retryAge := "itsm_sync.retry.max_age", c.ITSMSync.Retry.MaxAge
	for _, name := range slices.Sorted(maps.Keys(c.Servers)) {
		if a := c.Servers[name].Retry.MaxAge; a > retryAge {
			retryKey, retryAge = "servers."+name+".retry.max_age", a
		}
	}
	if c.SMTP.Enabled() && c.Notifier.Retry.MaxAge > retryAge {
		retryKey, retryAge = "notifier.retry.max_age", c.Notifier.Retry.MaxAge
	}
	tooShort(events.StreamOps, retryAge, retryKey+" retries an operation that long, from this stream")
	tooShort(events.StreamResults, age(events.StreamTriggers), "an operation's succeeded or skipped result is its done marker, and a replay of a trigger older than its results would perform its operations again (streams.limits."+events.StreamTriggers+".max_age)")
	tooShort(events.StreamResults, age(events.StreamOps), "an operation's succeeded or skipped result is its done marker, and a redelivery or resend of an operation older than its result would perform it again (streams.limits."+events.StreamOps+".max_age)")
	tooShort(events.StreamResults, 6*events.HoldRefresh, fmt.Sprintf("it holds the lanes' hold markers, republished every %s; the runner needs them kept well beyond that", events.HoldRefresh))
	tooLong(events.StreamDLQ, events.DLQMaxAge, "the redrive records (scw_redrives) are kept that long, and an older dead letter could be redriven twice")
	tooShort(events.StreamParked, age(events.StreamDLQ), "operations parked behind a dead letter must be kept as long as it can be redriven (streams.limits."+events.StreamDLQ+".max_age)")
	tooShort(events.StreamAlerts, events.DLQMaxAge, "failure alerts are retried until sent for that long")
}
