package bridge_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// fastPathPair serves one bridge twice: through a server that
// ConfigureServer gave the beacon fast path, and through its chi router
// alone.
type fastPathPair struct {
	fast, router string // base URLs
	br           *broker.Broker
}

func startFastPathPair(t *testing.T, cfg bridge.Config) *fastPathPair {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := localbroker.Open(broker.Config{DataDir: t.TempDir(), Logger: logger, OffsetsTopicPartitions: 1, Durability: broker.DurabilityPageCache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "beacons", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	pl := pipeline.New(pipeline.Config{Broker: br, Logger: logger})
	t.Cleanup(func() { pl.Close() })
	cfg.Brokers, cfg.Logger, cfg.Pipeline = []string{"127.0.0.1:1"}, logger, pl
	bg, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bg.Close() })
	plain := chi.NewRouter()
	bg.Routes(plain)
	routerSrv := httptest.NewServer(plain)
	t.Cleanup(routerSrv.Close)

	root := chi.NewRouter()
	bg.Routes(root)
	srv := &http.Server{Handler: root}
	bg.ConfigureServer(srv)
	if srv.Handler == http.Handler(root) {
		t.Fatal("ConfigureServer did not install the beacon fast path")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &fastPathPair{fast: "http://" + ln.Addr().String(), router: routerSrv.URL, br: br}
}

// The fast path answers exactly as the router does — successes, errors,
// paths it must leave to the router, CORS and enforce_origins — and
// labels its metrics with the route's pattern.
func TestBeaconFastPathMatchesRouter(t *testing.T) {
	pair := startFastPathPair(t, bridge.Config{
		PublicTopics: []string{"beacons", "missing"}, RateLimitPerSecond: -1,
		AllowedOrigins: []string{"https://shop.example"}, EnforceOrigins: true,
	})
	before := requestsWithRoute(t, "/beacon/{topic}", "POST", "204")
	cases := []struct {
		method, path, ctype, body string
		hdr                       []string
	}{
		{"POST", "/beacon/beacons", "text/plain", `{"a":1}`, nil},
		{"POST", "/beacon/beacons", "text/plain", `not json`, []string{"Origin", "https://shop.example"}},
		{"POST", "/beacon/beacons", "application/json", `{"a":`, nil},
		{"POST", "/beacon/beacons", "image/png", `x`, nil},
		{"POST", "/beacon/beacons", "text/plain", ``, nil},
		{"POST", "/beacon/beacons", "text/plain", strings.Repeat("x", 70_000), nil},
		{"POST", "/beacon/beacons", "text/plain", `{"a":2}`, []string{"Origin", "https://evil.example"}},
		{"POST", "/beacon/missing", "text/plain", `{"a":3}`, nil},
		{"POST", "/beacon/private", "text/plain", `{"a":4}`, nil},
		{"POST", "/beacon/", "text/plain", `{"a":5}`, nil},
		{"POST", "/beacon/beacons/extra", "text/plain", `{"a":6}`, nil},
		{"POST", "/beacon", "text/plain", `{"a":7}`, nil},
		{"GET", "/beacon/beacons", "", ``, nil},
		{"OPTIONS", "/beacon/beacons", "", ``, []string{"Origin", "https://shop.example", "Access-Control-Request-Method", "POST"}},
		{"POST", "/beacon/beacons?key=k1", "application/x-www-form-urlencoded", `a=1&b=2`, nil},
	}
	for _, c := range cases {
		var got [2]string
		for i, base := range []string{pair.fast, pair.router} {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			status, respBody, h := do(t, c.method, base+c.path, c.ctype, body, c.hdr...)
			got[i] = fmt.Sprintf("%d %s | allow=%q acao=%q vary=%q ct=%q stored=%q",
				status, respBody, h.Get("Allow"), h.Get("Access-Control-Allow-Origin"), h.Values("Vary"), h.Get("Content-Type"), h.Get("Sluice-Records-Stored"))
		}
		if got[0] != got[1] {
			t.Errorf("%s %s: fast path answered\n  %s\nrouter answered\n  %s", c.method, c.path, got[0], got[1])
		}
	}
	// Each accepted beacon was stored once per server: the 204s are
	// cases 0, 1 and the form.
	p, err := pair.br.Partition("beacons", 0)
	if err != nil {
		t.Fatal(err)
	}
	if end := p.LogEndOffset(); end != 6 {
		t.Fatalf("beacons holds %d records, want 6", end)
	}
	if n := requestsWithRoute(t, "/beacon/{topic}", "POST", "204") - before; n != 6 {
		t.Fatalf("sluice_bridge_requests_total{route=/beacon/{topic},method=POST,status=204} rose by %v, want 6", n)
	}
}

// requestsWithRoute reads sluice_bridge_requests_total for one series.
func requestsWithRoute(t *testing.T, route, method, status string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sluice_bridge_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m)["route"] == route && labels(m)["method"] == method && labels(m)["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Concurrent beacons through the fast path (which share appends in the
// pipeline): every one answered 204 and stored exactly once.
func TestBeaconFastPathConcurrent(t *testing.T) {
	pair := startFastPathPair(t, bridge.Config{PublicTopics: []string{"beacons"}, RateLimitPerSecond: -1})
	const clients, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)
				resp, err := http.Post(pair.fast+"/beacon/beacons", "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Errorf("beacon %s: HTTP %d", body, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := pair.br.Partition("beacons", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = p.Scan(func(batch []byte) error {
		recs, err := decodeValues(batch)
		for _, v := range recs {
			if seen[v] {
				return fmt.Errorf("%s stored twice", v)
			}
			seen[v] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for c := range clients {
		for i := range each {
			if v := fmt.Sprintf(`{"c":%d,"i":%d}`, c, i); !seen[v] {
				t.Fatalf("%s not stored", v)
			}
		}
	}
	if len(seen) != clients*each {
		t.Fatalf("stored %d beacons, want %d", len(seen), clients*each)
	}
}

// decodeValues returns a stored batch's record values.
func decodeValues(batch []byte) ([]string, error) {
	b, err := records.Decode(bytes.Clone(batch))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range b.Records {
		out = append(out, string(r.Value))
	}
	return out, nil
}
