package embedded

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
)

// SetMemoryLimit sets the process's Go soft memory limit (nats.embedded.memory_limit)
// unless GOMEMLIMIT is set, which wins, or limit is unlimited (negative). The embedded
// server keeps message-block buffers, a subject index and the dedup window's ids in the
// heap; without a limit the collector lets the heap grow to twice what is live.
func SetMemoryLimit(limit config.ByteSize, log *slog.Logger) {
	if env, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("memory limit from GOMEMLIMIT, not nats.embedded.memory_limit", "limit", env)
		return
	}
	if limit < 0 {
		return
	}
	debug.SetMemoryLimit(int64(limit))
	log.Info("memory limit set (nats.embedded.memory_limit)", "limit", limit.String())
}

// ServiceGCPercent is the collector's target (GOGC) of a process that does not run the
// embedded server: a service on a NATS server of its own. Its live heap is a few MiB, so
// at Go's default (100) it collected about 25 times a second under load, with one P (as
// deploy/k8s runs it) 8-12 % of its CPU. At 200 the services' own CPU per trigger fell
// by 8-32 % in closed-loop runs of make bench-pipeline, for 3 MiB more RSS each
// (README "Whole-pipeline benchmark": the pairs, and this machine's noise). The
// embedded server's process keeps Go's default: its heap is the server's caches,
// bounded by nats.embedded.memory_limit.
const ServiceGCPercent = 200

// SetServiceGC sets ServiceGCPercent unless GOGC is set, which wins.
func SetServiceGC(log *slog.Logger) {
	if env := os.Getenv("GOGC"); env != "" {
		log.Debug("garbage collector target from GOGC", "GOGC", env)
		return
	}
	debug.SetGCPercent(ServiceGCPercent)
	log.Debug("garbage collector target set for a service", "GOGC", ServiceGCPercent)
}

// How often the live heap is compared with the memory limit, and how often at most the
// warning repeats while it stays near it.
const (
	heapWatchEvery = 30 * time.Second
	heapWarnEvery  = time.Hour
)

// heapWarnShare is the share of the memory limit above which the live heap is warned of.
const heapWarnShare = 0.75

// watchHeap warns, at most once every repeat, while the heap that survived the last
// collection is above heapWarnShare of the process's memory limit: near it the collector
// runs ever more often, up to half the CPU, and a limit that is too small for the store
// shows as a slow pipeline rather than as memory. Without a limit it says nothing.
func watchHeap(ctx context.Context, every, repeat time.Duration, limit func() int64, live func() uint64, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l := limit()
		if l <= 0 || l == math.MaxInt64 {
			continue
		}
		if h := live(); float64(h) > heapWarnShare*float64(l) && (warned.IsZero() || time.Since(warned) >= repeat) {
			warned = time.Now()
			log.Warn("the live heap is near the memory limit: the garbage collector runs often and takes CPU; raise nats.embedded.memory_limit (or GOMEMLIMIT)",
				"live", config.ByteSize(h&^(1<<20-1)).String(), "limit", config.ByteSize(l).String())
		}
	}
}

// currentMemoryLimit is the process's memory limit (math.MaxInt64: none).
func currentMemoryLimit() int64 { return debug.SetMemoryLimit(-1) }

// liveHeap is the heap that survived the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
