package runner

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestOpHandler: a job's logger writes the operation's attributes first, as With did,
// also through a further With or group, and nothing below the level.
func TestOpHandler(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})).With("service", "itsm-sync")
	log := slog.New(opHandler{base.Handler(), []slog.Attr{slog.String("op", "o1"), slog.Int("delivery", 2)}})

	log.Info("not written")
	if buf.Len() != 0 {
		t.Fatalf("an info line was written at level warn: %s", buf.String())
	}
	log.Warn("retry", "wait", "1s")
	log.With("server", "snow").Warn("down")
	log.WithGroup("g").Warn("grouped", "k", "v")
	want := []string{
		`level=WARN msg=retry service=itsm-sync op=o1 delivery=2 wait=1s`,
		`level=WARN msg=down service=itsm-sync op=o1 delivery=2 server=snow`,
		`level=WARN msg=grouped service=itsm-sync op=o1 delivery=2 g.k=v`,
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if _, rest, _ := strings.Cut(l, " "); rest != want[i] { // without the time
			t.Errorf("line %d:\n got %s\nwant %s", i, rest, want[i])
		}
	}
}
