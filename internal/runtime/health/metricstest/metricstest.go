// Package metricstest reads metrics from a Prometheus registry in tests (the value of a
// series, or the sum of the series that match some labels) and serves a health.Handler.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/triggerflow/triggerflow/internal/runtime/health"
)

// Sum is the sum of the values of the series of the metric name whose labels include
// every one of labels (counters, gauges and untyped; histograms count observations), and
// how many series matched.
func Sum(g prometheus.Gatherer, name string, labels map[string]string) (float64, int, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0, fmt.Errorf("gather: %w", err)
	}
	var sum float64
	var n int
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !matches(m, labels) {
				continue
			}
			n++
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum, n, nil
}

// Want is an error unless the series of name matching labels sum to want (at least one
// series must match), for polling with natstest.CheckFor.
func Want(g prometheus.Gatherer, name string, labels map[string]string, want float64) error {
	got, n, err := Sum(g, name, labels)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s%v: no series", name, labels)
	}
	if got != want {
		return fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
	return nil
}

// Names are the names of every metric family in g.
func Names(g prometheus.Gatherer) (map[string]bool, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
	}
	return out, nil
}

func matches(m *dto.Metric, labels map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(labels)
}

// Serve serves h's /healthz, /readyz and /metrics on a test server; it returns its URL.
func Serve(t testing.TB, h health.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Get returns the status and body of url.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
