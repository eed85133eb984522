package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// metricName finds metric names in PromQL and Markdown.
var metricName = regexp.MustCompile(`\bsluice_[a-z0-9_]+`)

// documentedMetrics reads docs/metrics.md's tables: metric name -> type.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`sluice_") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		typ := strings.TrimSpace(cells[2])
		switch typ {
		case "counter", "gauge", "histogram":
		default:
			t.Errorf("docs/metrics.md: %s has type %q", name, typ)
		}
		out[name] = typ
	}
	if len(out) < 40 {
		t.Fatalf("docs/metrics.md documents %d metrics, want the full list", len(out))
	}
	return out
}

// documented reports whether a series name (maybe a histogram's _bucket,
// _sum or _count) is a documented metric.
func documented(docs map[string]string, name string) bool {
	if _, ok := docs[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && docs[base] == "histogram" {
			return true
		}
	}
	return false
}

// TestGrafanaDashboard: examples/grafana/sluice.json is a dashboard whose
// every query uses documented metrics, with a panel for each of
// throughput, latency, under-replicated partitions, lag, plugins and the
// bridge.
func TestGrafanaDashboard(t *testing.T) {
	docs := documentedMetrics(t)
	raw, err := os.ReadFile("../../examples/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("sluice.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard has no title or uid")
	}
	used := map[string]bool{}
	check := func(where, expr string) {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: query %q uses no sluice metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !documented(docs, n) {
				t.Errorf("%s: %s is not in docs/metrics.md", where, n)
			}
		}
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			check("variable "+v.Name, v.Definition)
		}
	}
	for _, want := range []string{
		"sluice_topic_bytes_in_total", "sluice_topic_bytes_out_total", // throughput
		"sluice_kafka_request_duration_seconds_bucket", // latency p99
		"sluice_under_replicated_partitions",
		"sluice_consumer_group_lag",
		"sluice_plugin_calls_total",
		"sluice_bridge_requests_total", "sluice_bridge_sse_clients",
	} {
		if !used[want] {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}
