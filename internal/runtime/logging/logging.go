// Package logging builds the process's slog.Logger and bridges fx and watermill to it.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/triggerflow/triggerflow/internal/config"
)

// New returns a logger writing to w in the configured format and level. Its With
// attributes are formatted when a line is first written (deferred), not when With is
// called.
func New(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(&deferred{base: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(&deferred{base: slog.NewTextHandler(w, opts)})
}

// deferred applies With's attributes and groups to its base handler when a record is
// first handled. slog's text and JSON handlers format them in WithAttrs, so a logger made
// per message (the dispatcher's, with the trigger's ids) cost that formatting even when
// nothing was written (BenchmarkWithUnwritten). The attributes' values are therefore
// read at the first line, not at With: pass values, not something changed afterwards.
type deferred struct {
	base slog.Handler
	ops  []deferredOp // in the order they were made
	once sync.Once
	h    slog.Handler // base with ops applied, made once
}

// deferredOp is a WithAttrs (attrs) or a WithGroup (group).
type deferredOp struct {
	attrs []slog.Attr
	group string
}

// Enabled is the base's: slog's handlers decide by level only.
func (d *deferred) Enabled(ctx context.Context, l slog.Level) bool { return d.base.Enabled(ctx, l) }

func (d *deferred) Handle(ctx context.Context, r slog.Record) error {
	d.once.Do(func() {
		h := d.base
		for _, op := range d.ops {
			if op.attrs != nil {
				h = h.WithAttrs(op.attrs)
			} else {
				h = h.WithGroup(op.group)
			}
		}
		d.h = h
	})
	return d.h.Handle(ctx, r)
}

func (d *deferred) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return d
	}
	return &deferred{base: d.base, ops: append(slices.Clip(d.ops), deferredOp{attrs: attrs})}
}

func (d *deferred) WithGroup(name string) slog.Handler {
	if name == "" {
		return d
	}
	return &deferred{base: d.base, ops: append(slices.Clip(d.ops), deferredOp{group: name})}
}

// Module provides *slog.Logger from the config, logs the config's warnings once, sets
// fx's stop timeout from the config (the drain plus time to settle), and routes fx's own
// events to the logger (at Debug, so start-up is quiet unless asked). It is fx.Options,
// not fx.Module: an fx.WithLogger inside a module would apply to that module's scope
// only.
var Module = fx.Options(
	fx.Provide(func(c *config.Config) *slog.Logger { return New(os.Stderr, c.Log) }),
	fx.Invoke(func(c *config.Config, l *slog.Logger) {
		for _, w := range c.Warnings {
			l.Warn("config: "+w.Error(), "line", w.Line)
		}
	}),
	fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
		sl := &fxevent.SlogLogger{Logger: l}
		sl.UseLogLevel(slog.LevelDebug)
		return quietBuild{sl}
	}),
)

// quietBuild drops fx's events for an app that failed to build (a constructor or an
// invoke returned an error): fx.New returns that error, and the command prints it once,
// on one line, without fx's "could not build arguments…" and stack. A failed start is
// still logged (fxevent.Started).
type quietBuild struct{ fxevent.Logger }

func (q quietBuild) LogEvent(e fxevent.Event) {
	var err error
	switch e := e.(type) {
	case *fxevent.Run:
		err = e.Err
	case *fxevent.Invoked:
		err = e.Err
	case *fxevent.Provided:
		err = e.Err
	case *fxevent.Supplied:
		err = e.Err
	case *fxevent.Decorated:
		err = e.Err
	}
	if err == nil {
		q.Logger.LogEvent(e)
	}
}

// Watermill adapts slog for watermill, demoting its per-message Info lines to Debug.
// Lines below l's level cost nothing: watermill's adapter turns every field into an
// attribute before slog checks the level, and its router logs a few Trace lines per
// message (2-3 % of the dispatcher's and itsm-sync's CPU at the default level).
func Watermill(l *slog.Logger) watermill.LoggerAdapter {
	return watermillLogger{watermill.NewSlogLoggerWithLevelMapping(l, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	}), l}
}

// routerStopped is what watermill's router logs, as an error with a stack trace, when its
// handlers have stopped before it was closed: what every graceful stop does (the
// subscribers drain first).
const routerStopped = "All handlers stopped, closing router"

// watermillLogger reports routerStopped as the plain Info line it is, and drops lines
// below its level before watermill builds them. levels is the logger whose level
// decides (a With child has its parent's).
type watermillLogger struct {
	watermill.LoggerAdapter
	levels *slog.Logger
}

func (w watermillLogger) enabled(level slog.Level) bool {
	return w.levels.Enabled(context.Background(), level)
}

func (w watermillLogger) Trace(msg string, fields watermill.LogFields) {
	if w.enabled(watermill.LevelTrace) {
		w.LoggerAdapter.Trace(msg, fields)
	}
}

func (w watermillLogger) Debug(msg string, fields watermill.LogFields) {
	if w.enabled(slog.LevelDebug) {
		w.LoggerAdapter.Debug(msg, fields)
	}
}

// Info is watermill's Info, logged at Debug (Watermill).
func (w watermillLogger) Info(msg string, fields watermill.LogFields) {
	if w.enabled(slog.LevelDebug) {
		w.LoggerAdapter.Info(msg, fields)
	}
}

func (w watermillLogger) Error(msg string, err error, fields watermill.LogFields) {
	if msg == routerStopped {
		w.Info("message router stopped: every consumer has stopped", fields)
		return
	}
	w.LoggerAdapter.Error(msg, err, fields)
}

func (w watermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return watermillLogger{w.LoggerAdapter.With(fields), w.levels}
}

// Discard is a logger that writes nothing (tests, benchmarks).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
