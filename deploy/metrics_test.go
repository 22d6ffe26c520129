// Package deploy_test checks the monitoring files of deploy/ (the Grafana dashboard and
// the Prometheus rules) against the metrics `triggerflow all` registers.
package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.yaml.in/yaml/v3"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/testrig"
	"github.com/triggerflow/triggerflow/services/ingress"
)

// Where the dashboard and the alert rules are, and the README that documents the metrics.
const (
	grafanaDashboard = "grafana/triggerflow.json"
	prometheusRules  = "prometheus/rules.yaml"
	readme           = "../README.md"
)

// metricName is a triggerflow metric as PromQL or prose names it.
var metricName = regexp.MustCompile(`\btriggerflow_[a-z0-9_]*[a-z0-9]\b`)

// TestDeployMetricsRegistered keeps the Grafana dashboard, the Prometheus rules and the
// README's metrics table from drifting: every triggerflow_* name they use is registered
// by `triggerflow all` (every service, the notifier and an ITSM server configured),
// histograms by their _bucket, _sum and _count series.
func TestDeployMetricsRegistered(t *testing.T) {
	reg := allRegistry(t)
	registered := func(name string) bool {
		if isRegistered(reg, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && isRegistered(reg, base) {
				return true
			}
		}
		return false
	}
	sources := map[string][]string{
		grafanaDashboard: dashboardExprs(t),
		prometheusRules:  ruleExprs(t),
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	sources[readme] = []string{string(b)}
	for file, texts := range sources {
		names := map[string]bool{}
		for _, s := range texts {
			for _, n := range metricName.FindAllString(s, -1) {
				names[n] = true
			}
		}
		if len(names) == 0 {
			t.Errorf("%s names no triggerflow metric", file)
		}
		for n := range names {
			if !registered(n) {
				t.Errorf("%s uses %s, which no service registers", file, n)
			}
		}
	}
	// Every metric the services register is documented (what a scrape of a set-up that
	// has done nothing yet shows, and the vectors named in the dashboard).
	doc := string(b)
	for _, n := range []string{
		"triggerflow_build_info", "triggerflow_consumer_consuming", "triggerflow_consumer_pending_messages",
		"triggerflow_dlq_messages", "triggerflow_itsm_breaker_state",
	} {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("README does not document %s", n)
		}
	}
	used := map[string]bool{}
	for _, s := range append(dashboardExprs(t), ruleExprs(t)...) {
		for _, n := range metricName.FindAllString(s, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				n = strings.TrimSuffix(n, suffix)
			}
			used[n] = true
		}
	}
	for n := range used {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("README does not document %s (used by the dashboard or the rules)", n)
		}
	}
}

// allRegistry runs `triggerflow all` (testrig; every service, the notifier and an ITSM
// server configured) and returns its registry.
func allRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	cfg := config.Default()
	cfg.Servers = map[string]config.Server{"servicenow": {BaseURL: "https://snow.example"}}
	cfg.SMTP.Host, cfg.SMTP.From = "127.0.0.1", "triggerflow@example.com"
	cfg.Log.Level = "error"
	if !cfg.SMTP.Enabled() {
		t.Fatal("test config: the notifier is not part of `all` without smtp")
	}
	return testrig.Start(t, "all", cfg, fx.Replace(ingress.Options{Dev: true})).Registry
}

// isRegistered reports whether a collector of the metric name is registered: a probe of
// that name conflicts with it.
func isRegistered(reg *prometheus.Registry, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "drift probe"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// dashboardExprs are the PromQL expressions of the dashboard's panels and variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	return out
}

// ruleExprs are the expressions of the alert rules, each of which must have a name, a
// severity and a summary.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(prometheusRules)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", prometheusRules, err)
	}
	var out, alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: rule %q lacks a name, expr, severity or summary", prometheusRules, r.Alert)
			}
			alerts = append(alerts, r.Alert)
			out = append(out, r.Expr)
		}
	}
	for _, want := range []string{"TriggerflowDeadLettersGrowing", "TriggerflowConsumerLagGrowing", "TriggerflowBreakerOpen", "TriggerflowNoTriggers"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s: no alert %s", prometheusRules, want)
		}
	}
	return out
}
