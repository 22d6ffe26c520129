package embedded_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/embedded"
)

// TestMonitorPort: nats.embedded.monitor_port serves nats-server's monitoring endpoints
// (what `make bench-pipeline` reads /jsz and /varz from), says where at start, and by
// default (0) nothing listens.
func TestMonitorPort(t *testing.T) {
	for _, port := range []int{0, -1} {
		var logs bytes.Buffer
		s, err := embedded.Start(config.Embedded{Host: "127.0.0.1", Port: -1, MonitorPort: port, StoreDir: t.TempDir()},
			slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		addr := s.MonitorAddr()
		if port == 0 {
			if addr != nil || strings.Contains(logs.String(), "monitor=") {
				t.Errorf("monitor_port 0: monitoring on %v; log %s", addr, logs.String())
			}
			s.Stop()
			continue
		}
		if addr == nil {
			t.Fatal("monitor_port -1: no monitoring port")
		}
		url := "http://" + addr.String()
		if !strings.Contains(logs.String(), "monitor="+url) {
			t.Errorf("the start log does not say where monitoring is: %s", logs.String())
		}
		for _, path := range []string{"/varz", "/jsz"} {
			res, err := http.Get(url + path)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			err = json.NewDecoder(res.Body).Decode(&v)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || err != nil || v["server_id"] == nil {
				t.Errorf("%s: %d, %v, %v", path, res.StatusCode, err, v)
			}
		}
		s.Stop()
	}
}

// TestPortInUse: a port of the embedded server that is taken fails the start at once,
// naming what nats-server could not do, instead of after the 30 s readiness wait.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name string
		c    config.Embedded
		want string
	}{
		{"client port", config.Embedded{Port: taken}, "Error listening on port"},
		{"monitor port", config.Embedded{Port: -1, MonitorPort: taken}, "Can't start monitoring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Host, tc.c.StoreDir = "127.0.0.1", t.TempDir()
			start := time.Now()
			s, err := embedded.Start(tc.c, slog.New(slog.DiscardHandler))
			if err == nil {
				s.Stop()
				t.Fatalf("started on a port in use (%d)", taken)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprint(taken)) {
				t.Errorf("error %q, want %q and the port %d", err, tc.want, taken)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("the start took %s to fail", d)
			}
		})
	}
}
