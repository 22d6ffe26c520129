package itsmsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/runtime/runner"
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/pkg/events"
	"github.com/triggerflow/triggerflow/services/itsm-sync/outbound"
)

// ServiceName names itsm-sync in dead letters and logs.
const ServiceName = "itsm-sync"

// TargetSecureChange is the target of securechange operations (and of the write-backs a
// response's field mapping produces).
const TargetSecureChange = "securechange"

// Hooks let tests stop the service at the points where a crash matters.
type Hooks struct {
	// AfterSend runs after the server accepted an operation and before anything is
	// recorded or acknowledged. Blocking in it until the message's context ends is a
	// request cut off at the worst moment: nothing is recorded, nothing acked.
	AfterSend func(ctx context.Context, op events.Operation)
}

// Correlations are the values ITSM servers returned, per ticket and server
// (scw_correlation; a map in unit tests).
type Correlations interface {
	Get(ctx context.Context, ticket, server string) (map[string]string, error)
	// Merge adds vals to the ticket's and server's values (and indexes the value its
	// server's callbacks name records by back to the ticket).
	Merge(ctx context.Context, ticket, server string, vals map[string]string) error
	// Index records that the record (server, correlation key, value) is the ticket's.
	Index(ctx context.Context, server, key, value, ticket string) error
	// Ticket is the ticket of a record (server, correlation key, value), if known.
	Ticket(ctx context.Context, server, key, value string) (string, bool, error)
}

// Service performs itsm and securechange operations: Perform is its whole business
// logic (the runner does the rest).
type Service struct {
	Log          *slog.Logger
	Cfg          config.ITSMSync
	Servers      map[string]*outbound.Server
	SecureChange *securechange.Client // nil: no SecureChange connection
	Correlations Correlations
	// Pub publishes the SecureChange write-back a response's field mapping asks for.
	Pub     message.Publisher
	Metrics *metrics // nil: none
	Hooks   Hooks
	Now     func() time.Time

	tmpls wfi.Cache
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Perform performs one operation (runner.Perform).
func (s *Service) Perform(ctx context.Context, j *runner.Job) (runner.Done, error) {
	switch j.Op.Kind {
	case events.OpITSM:
		srv, ok := s.Servers[j.Op.Target]
		if !ok {
			return runner.Done{}, failure.Permanent(fmt.Errorf("server %q is not configured in this itsm-sync (servers: %s)", j.Op.Target, strings.Join(slices.Sorted(maps.Keys(s.Servers)), ", ")))
		}
		return s.performITSM(ctx, j, srv)
	case events.OpSecureChange:
		if s.SecureChange == nil {
			return runner.Done{}, failure.Permanent(errors.New("a securechange operation but securechange.url is not configured"))
		}
		return s.performSecureChange(ctx, j)
	}
	return runner.Done{}, failure.Permanent(fmt.Errorf("operation kind %q is not performed by itsm-sync", j.Op.Kind))
}

// Retry is the retry policy of an operation: its server's, or itsm_sync.retry.
func (s *Service) Retry(op events.Operation) config.Retry {
	if srv, ok := s.Servers[op.Target]; ok && op.Kind == events.OpITSM {
		return srv.Retry()
	}
	return s.Cfg.Retry
}

// newData is the template data of an operation.
func (s *Service) newData(op events.Operation, corr map[string]string) (*wfi.Data, error) {
	d, err := wfi.NewData(op, s.now())
	if err != nil {
		return nil, failure.Permanent(err)
	}
	d.Custom = s.Cfg.Placeholders
	d.Correlation = corr
	return d, nil
}

// renderString renders a template text (each distinct text parsed once).
func (s *Service) renderString(name, text string, d *wfi.Data, esc wfi.Escape) (string, error) {
	if !strings.ContainsAny(text, "#{") {
		return text, nil
	}
	b, err := s.tmpls.Render(name, text, d, esc)
	return string(b), failure.Permanent(err)
}

// attempt records one call to SecureChange or a server that made no HTTP exchange of
// its own (the SecureChange client): latency and error.
func attempt(j *runner.Job, start, end time.Time, err error) {
	a := events.Attempt{At: start.UTC(), Latency: end.Sub(start)}
	runner.Failed(&a, err)
	j.Record(a)
}
