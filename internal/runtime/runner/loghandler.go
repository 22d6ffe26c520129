package runner

import (
	"context"
	"log/slog"
	"slices"
)

// opHandler is the handler of a job's logger: the operation's attributes go to what the
// job logs when it logs (slog's handlers format With attributes at once: seven per
// operation, also for the many that log nothing at the configured level).
type opHandler struct {
	slog.Handler // the runner's
	attrs        []slog.Attr
}

func (h opHandler) Handle(ctx context.Context, rec slog.Record) error {
	return h.Handler.WithAttrs(h.attrs).Handle(ctx, rec)
}

func (h opHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.Handler.WithAttrs(slices.Concat(h.attrs, as))
}

func (h opHandler) WithGroup(name string) slog.Handler {
	return h.Handler.WithAttrs(h.attrs).WithGroup(name)
}
