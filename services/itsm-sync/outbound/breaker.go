package outbound

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Outcomes reported to the breaker: nil is a success (2xx and permanent failures: the
// server answered), errTransientOutcome a failure, errCallerDone neither.
var (
	errTransientOutcome = errors.New("transient failure")
	errCallerDone       = errors.New("caller gave up")
)

// breaker is the server's circuit breaker: it opens after cfg.Failures consecutive
// transient failures, stays open cfg.OpenFor, then lets one probe through.
type breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	failures int
	openFor  time.Duration
	openedAt atomic.Int64 // unix nanoseconds of the last transition to open
}

// newBreaker returns nil when the breaker is disabled (failures -1).
func newBreaker(name string, cfg config.Breaker, log *slog.Logger) *breaker {
	if cfg.Failures < 1 {
		return nil
	}
	b := &breaker{failures: cfg.Failures, openFor: cfg.OpenFor}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // one probe when half-open
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(cfg.Failures)
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errCallerDone) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
				log.Warn("circuit breaker open: no requests until a probe succeeds",
					"from", from.String(), "failures", cfg.Failures, "open_for", cfg.OpenFor)
				return
			}
			log.Info("circuit breaker "+to.String(), "from", from.String())
		},
	})
	return b
}

// allow asks for a request. When refused, wait is the time until the probe (0 with ok
// false when a probe is already in flight).
func (b *breaker) allow() (done func(outcome error), wait time.Duration, hasWait bool, err error) {
	done, err = b.cb.Allow()
	if err == nil {
		return done, 0, false, nil
	}
	if errors.Is(err, gobreaker.ErrOpenState) {
		opened := time.Unix(0, b.openedAt.Load())
		return nil, max(b.openFor-time.Since(opened), 0), true, err
	}
	return nil, 0, false, err // half-open, the probe is out
}

func (b *breaker) state() string {
	if b == nil {
		return gobreaker.StateClosed.String()
	}
	return b.cb.State().String()
}
