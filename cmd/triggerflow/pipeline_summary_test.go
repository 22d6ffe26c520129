package main_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// summaryTable reads the targets off the runs: for each variant with at least two
// rounds, the median and range of its ratio to the limit in the same round (closed loop)
// or of its p99 (paced); and in the closed loop split-2's events/s over split's (and
// floor-3-2's over floor-3's), round by round (the replicas' target). Empty when there is
// neither.
func summaryTable(o pipeOptions, results []pipeResult) string {
	paced := o.rate > 0
	byVariant := map[string][]pipeResult{}
	var order []string
	for _, r := range results {
		if r.variant == "limit" || r.variant == "replay" || r.variant == "fill" {
			continue
		}
		if _, ok := byVariant[r.variant]; !ok {
			order = append(order, r.variant)
		}
		byVariant[r.variant] = append(byVariant[r.variant], r)
	}
	var lines []string
	for _, v := range order {
		rs := byVariant[v]
		if len(rs) < 2 {
			continue
		}
		var xs []float64
		for _, r := range rs {
			if paced {
				xs = append(xs, ms(r.p99))
			} else {
				xs = append(xs, r.ratio)
			}
		}
		lines = append(lines, fmt.Sprintf("%-*s %s", variantWidth, v, spread(xs, paced)))
	}
	for _, v := range order { // two replicas over one: split-2 ÷ split, floor-3-2 ÷ floor-3
		one, ok := strings.CutSuffix(v, "-2")
		if !ok || paced {
			continue
		}
		eps := map[int]float64{}
		for _, r := range byVariant[one] {
			eps[r.round] = r.eps
		}
		var rel []float64
		for _, r := range byVariant[v] {
			if e := eps[r.round]; e > 0 {
				rel = append(rel, r.eps/e)
			}
		}
		if len(rel) > 0 {
			lines = append(lines, fmt.Sprintf("%s ÷ %s (events/s, same round): %s", v, one, spread(rel, false)))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	what := "ratio to the limit in the same round"
	if paced {
		what = "p99 ms"
	}
	return fmt.Sprintf("\nover the rounds: %s, median (min–max)\n%s\n", what, strings.Join(lines, "\n"))
}

// spread is "median (min–max)" of xs, with one decimal for latencies, two for ratios.
func spread(xs []float64, latency bool) string {
	s := slices.Sorted(slices.Values(xs))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	f := "%.2f"
	if latency {
		f = "%.1f"
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", med, s[0], s[len(s)-1])
}

// TestSummaryTable: medians and ranges over rounds, split-2 over split (and floor-3-2 over
// floor-3) round by round;
// with one round only the replicas' line, and nothing when paced.
func TestSummaryTable(t *testing.T) {
	t.Parallel()
	rs := []pipeResult{
		{variant: "limit", round: 1, eps: 4000, ratio: 1}, {variant: "all", round: 1, eps: 2000, ratio: 0.5},
		{variant: "split", round: 1, eps: 1600, ratio: 0.4}, {variant: "split-2", round: 1, eps: 1600, ratio: 0.4},
		{variant: "limit", round: 2, eps: 3000, ratio: 1}, {variant: "all", round: 2, eps: 1800, ratio: 0.6},
		{variant: "split", round: 2, eps: 1500, ratio: 0.5}, {variant: "split-2", round: 2, eps: 1200, ratio: 0.4},
		{variant: "all", round: 3, eps: 1800, ratio: 0.45},
		{variant: "floor-3", round: 1, eps: 2000, ratio: 0.5}, {variant: "floor-3-2", round: 1, eps: 1800, ratio: 0.45},
	}
	got := summaryTable(pipeOptions{}, rs)
	for _, want := range []string{
		"all       0.50 (0.45–0.60)\n",
		"split     0.45 (0.40–0.50)\n",
		"split-2 ÷ split (events/s, same round): 0.90 (0.80–1.00)\n",
		"floor-3-2 ÷ floor-3 (events/s, same round): 0.90 (0.90–0.90)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	paced := summaryTable(pipeOptions{rate: 1100}, []pipeResult{
		{variant: "all", round: 1, p99: 30 * time.Millisecond}, {variant: "all", round: 2, p99: 50 * time.Millisecond},
	})
	if !strings.Contains(paced, "p99 ms") || !strings.Contains(paced, "all       40.0 (30.0–50.0)\n") || strings.Contains(paced, "split-2 ÷") {
		t.Errorf("paced:\n%s", paced)
	}
	if one := summaryTable(pipeOptions{}, rs[:4]); strings.Contains(one, "all ") || !strings.Contains(one, "split-2 ÷ split (events/s, same round): 1.00 (1.00–1.00)\n") {
		t.Errorf("one round:\n%s", one)
	}
	if none := summaryTable(pipeOptions{rate: 1100}, rs[:4]); none != "" {
		t.Errorf("one paced round:\n%s", none)
	}
}

// TestTablesAlign: the longest variant's name (floor-3-2) keeps the tables' columns.
func TestTablesAlign(t *testing.T) {
	t.Parallel()
	rs := []pipeResult{{variant: "floor-3-2", round: 1}, {variant: "all", round: 1}}
	lines := strings.Split(pipeTable(pipeOptions{}, rs), "\n")[1:4]
	for i, want := range []string{" round", "     1", "     1"} {
		if got := lines[i][variantWidth:][:len(want)]; got != want {
			t.Errorf("line %d: %q after the variant's column, want %q:\n%s", i, got, want, strings.Join(lines, "\n"))
		}
	}
}
