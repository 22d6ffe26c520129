package embedded

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// TestWatchHeap: a live heap above 3/4 of the memory limit is warned of once (not at every
// check), with both sizes; below it, or with no limit, nothing is said.
func TestWatchHeap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		live  uint64
		warns int
	}{
		{"near the limit", 200 << 20, 160 << 20, 1},
		{"below 3/4", 200 << 20, 140 << 20, 0},
		{"no limit", math.MaxInt64, 1 << 40, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs natstest.LogBuffer
			var checks atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				watchHeap(ctx, time.Millisecond, time.Hour,
					func() int64 { checks.Add(1); return tc.limit },
					func() uint64 { return tc.live },
					slog.New(slog.NewTextHandler(&logs, nil)))
			}()
			deadline := time.Now().Add(time.Minute)
			for checks.Load() < 20 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polling for 20 checks, not for a result
			}
			cancel()
			<-done
			if checks.Load() < 20 {
				t.Fatalf("%d checks in a minute", checks.Load())
			}
			out := logs.String()
			if n := strings.Count(out, "near the memory limit"); n != tc.warns {
				t.Fatalf("%d warnings in %d checks, want %d:\n%s", n, checks.Load(), tc.warns, out)
			}
			if tc.warns > 0 && (!strings.Contains(out, "live=160MiB") || !strings.Contains(out, "limit=200MiB") || !strings.Contains(out, "nats.embedded.memory_limit")) {
				t.Errorf("the warning does not give the sizes and the knob:\n%s", out)
			}
		})
	}
}

// TestLiveHeap reads the runtime's live heap (as of the last collection).
func TestLiveHeap(t *testing.T) {
	runtime.GC()
	if liveHeap() == 0 {
		t.Fatal("no live heap read from runtime/metrics")
	}
}
