package embedded_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

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
