package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// The bridge scenario measures the HTTP bridge of an in-process Sluice node:
// beacon POST throughput with wrk against the bridge and against a bare
// net/http handler answering 204 in the same run (the ratio is the figure,
// so machine speed cancels out), and SSE fan-out: many EventSource-style
// subscribers on loopback, each record's delivery latency to every one.
//
// The three beacon targets (bare handler, bridge with --durability
// page-cache, bridge with --durability fsync) are measured in interleaved
// rounds, so that load from other work on the machine falls on all three
// alike rather than on whichever ran during it; the rates are the rounds'
// means. The bench process's own CPU time per request (wrk is another
// process) is reported too: it is what the bridge costs, and the figure
// least disturbed by other work.

const (
	targetBeaconRatio = 0.7
	beaconBody        = `{"type":"page_view","url":"/products/42","ref":"https://example.com/","ts":1700000000000}`
)

type bridgeBenchConfig struct {
	wrkDuration time.Duration // per target, split over wrkRounds
	wrkRounds   int
	wrkConns    int
	subscribers int
	records     int
	interval    time.Duration
}

func bridgeScenario() scenario {
	return scenario{
		name:        "bridge",
		description: "HTTP bridge: beacon POSTs/s (wrk) vs a bare net/http 204 handler; SSE fan-out to 2,000 subscribers, delivery p99 (-quick: 200)",
		run: func(ctx context.Context, env *benchEnv) section {
			cfg := bridgeBenchConfig{wrkDuration: 10 * time.Second, wrkRounds: 5, wrkConns: 64, subscribers: 2000, records: 50, interval: 50 * time.Millisecond}
			if env.quick {
				cfg.wrkDuration, cfg.wrkRounds, cfg.subscribers, cfg.records = 3*time.Second, 3, 200, 20
			}
			return runBridgeBench(ctx, cfg, env.log)
		},
	}
}

type bridgeReport struct {
	cfg                bridgeBenchConfig
	bareRPS, bridgeRPS float64 // bridgeRPS: beacons with --durability fsync
	pageCacheRPS       float64 // beacons with --durability page-cache
	// CPU time of the bench process per request (the bare handler and the
	// in-process node run in it; wrk does not).
	bareCPU, bridgeCPU, pageCacheCPU time.Duration
	bareNon2xx, brNon2x              int
	delivered, expected              int64
	p50, p99, max                    time.Duration
	errs                             []error
}

func (r *bridgeReport) err() error { return errors.Join(r.errs...) }

func (r *bridgeReport) ratio() float64 {
	if r.bareRPS == 0 {
		return 0
	}
	return r.bridgeRPS / r.bareRPS
}

func (r *bridgeReport) pageCacheRatio() float64 {
	if r.bareRPS == 0 {
		return 0
	}
	return r.pageCacheRPS / r.bareRPS
}

func (r *bridgeReport) render(out io.Writer) {
	fmt.Fprintf(out, "\n== bridge: beacon POST (wrk, %d connections, %s per target in %d interleaved rounds) and SSE fan-out (%d subscribers x %d records)\n",
		r.cfg.wrkConns, r.cfg.wrkDuration, r.cfg.wrkRounds, r.cfg.subscribers, r.cfg.records)
	fmt.Fprintf(out, "  bare net/http 204 handler   %10.0f req/s  %s  (non-2xx: %d)\n", r.bareRPS, cpuPerRequest(r.bareCPU), r.bareNon2xx)
	fmt.Fprintf(out, "  bridge POST /beacon/{topic} %10.0f req/s  %s  (durability page-cache, Kafka's default: answered once in the page cache)\n",
		r.pageCacheRPS, cpuPerRequest(r.pageCacheCPU))
	fmt.Fprintf(out, "  ratio %.2fx (target >= %.1fx) %s\n", r.pageCacheRatio(), targetBeaconRatio, targetMark(r.pageCacheRatio() >= targetBeaconRatio))
	fmt.Fprintf(out, "  bridge POST /beacon/{topic} %10.0f req/s  %s  (non-2xx: %d; durability fsync, the single-node default: answered once fsynced)\n",
		r.bridgeRPS, cpuPerRequest(r.bridgeCPU), r.brNon2x)
	fmt.Fprintf(out, "  ratio %.2fx (target >= %.1fx) %s\n", r.ratio(), targetBeaconRatio, targetMark(r.ratio() >= targetBeaconRatio))
	fmt.Fprintf(out, "  SSE delivered %d/%d events; latency p50 %s, p99 %s, max %s\n",
		r.delivered, r.expected, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond))
	for _, err := range r.errs {
		fmt.Fprintf(out, "  error: %v\n", err)
	}
}

// cpuPerRequest renders the bench process's CPU time per request.
func cpuPerRequest(d time.Duration) string {
	if d <= 0 {
		return "(CPU/request n/a)"
	}
	return fmt.Sprintf("(%.1f µs CPU/request)", float64(d.Nanoseconds())/1e3)
}

func (r *bridgeReport) summary() []string {
	return []string{
		fmt.Sprintf("bridge beacon, durability page-cache (Kafka's default): %.0f req/s vs bare net/http %.0f req/s = %.2fx (target >= %.1fx) %s; CPU/request %.1f vs %.1f µs",
			r.pageCacheRPS, r.bareRPS, r.pageCacheRatio(), targetBeaconRatio, targetMark(r.pageCacheRatio() >= targetBeaconRatio),
			float64(r.pageCacheCPU.Nanoseconds())/1e3, float64(r.bareCPU.Nanoseconds())/1e3),
		fmt.Sprintf("bridge beacon, durability fsync (single-node default, each beacon fsynced before its 204): %.0f req/s = %.2fx bare net/http (target >= %.1fx) %s; CPU/request %.1f µs",
			r.bridgeRPS, r.ratio(), targetBeaconRatio, targetMark(r.ratio() >= targetBeaconRatio), float64(r.bridgeCPU.Nanoseconds())/1e3),
		fmt.Sprintf("bridge SSE fan-out: %d subscribers, %d/%d delivered, p99 %s", r.cfg.subscribers, r.delivered, r.expected, r.p99.Round(time.Microsecond)),
	}
}

func targetMark(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func runBridgeBench(ctx context.Context, cfg bridgeBenchConfig, log *slog.Logger) *bridgeReport {
	rep := &bridgeReport{cfg: cfg}
	dir, err := os.MkdirTemp("", "sluice-bench-bridge-")
	if err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	defer os.RemoveAll(dir)

	// Two nodes: the default durability (fsync on a single node: a
	// beacon is answered once fsynced) and page-cache, Kafka's default,
	// where the bridge's CPU rather than the disk decides.
	addrs, stop, err := startBridgeNode(ctx, dir, "", cfg)
	if err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	defer stop()
	if err := createBenchTopics(ctx, addrs.Kafka); err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	pcAddrs, pcStop, err := startBridgeNode(ctx, dir, broker.DurabilityPageCache, cfg)
	if err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	defer pcStop()
	if err := createBenchTopics(ctx, pcAddrs.Kafka); err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}

	bare, bareURL, err := startBareHandler()
	if err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	defer bare.Close()
	script := filepath.Join(dir, "beacon.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\nwrk.body = %q\n", beaconBody)
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	targets := []*wrkTarget{
		{name: "bare", url: bareURL},
		{name: "bridge page-cache", url: "http://" + pcAddrs.HTTP + "/beacon/beacons"},
		{name: "bridge fsync", url: "http://" + addrs.HTTP + "/beacon/beacons"},
	}
	round := cfg
	round.wrkDuration = max(time.Second, cfg.wrkDuration/time.Duration(max(cfg.wrkRounds, 1)))
	for i := 0; i < max(cfg.wrkRounds, 1); i++ {
		for _, t := range targets {
			log.Info("bridge bench: wrk", "target", t.name, "round", i+1, "rounds", cfg.wrkRounds)
			if err := t.run(ctx, round, script); err != nil {
				rep.errs = append(rep.errs, fmt.Errorf("wrk %s: %w", t.name, err))
			}
		}
	}
	rep.bareRPS, rep.bareCPU, rep.bareNon2xx = targets[0].result()
	rep.pageCacheRPS, rep.pageCacheCPU, _ = targets[1].result()
	rep.bridgeRPS, rep.bridgeCPU, rep.brNon2x = targets[2].result()
	for _, t := range targets[1:] {
		if t.non2xx > 0 {
			rep.errs = append(rep.errs, fmt.Errorf("%s answered %d non-2xx beacons", t.name, t.non2xx))
		}
	}

	log.Info("bridge bench: SSE fan-out", "subscribers", cfg.subscribers)
	if err := fanOut(ctx, cfg, addrs, rep); err != nil {
		rep.errs = append(rep.errs, fmt.Errorf("sse fan-out: %w", err))
	}
	return rep
}

// startBridgeNode runs an in-process node with the bench's bridge options
// on a data directory under dir.
func startBridgeNode(ctx context.Context, dir, durability string, cfg bridgeBenchConfig) (node.Addrs, func(), error) {
	data, err := os.MkdirTemp(dir, "node-")
	if err != nil {
		return node.Addrs{}, nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := testkit.LaunchNode(ctx, node.Config{Config: broker.Config{DataDir: data, Logger: quiet, Durability: durability}, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"},
		node.Options{Bridge: bridge.Config{
			PublicTopics: []string{"beacons"}, RateLimitPerSecond: -1,
			MaxSSEClients: cfg.subscribers + 10, MaxSSEStreamsPerIP: cfg.subscribers + 10,
			SSEHeartbeat: bridge.Duration(time.Minute),
		}})
	if err != nil {
		return node.Addrs{}, nil, fmt.Errorf("bridge node: %w", err)
	}
	return n.Addrs, func() { _ = n.Stop() }, nil
}

// wrkTarget accumulates the rounds of wrk against one URL.
type wrkTarget struct {
	name, url string
	rps       []float64
	requests  float64
	cpu       time.Duration
	non2xx    int
}

// run runs one round and adds its rate, its request count and the bench
// process's CPU time over it.
func (t *wrkTarget) run(ctx context.Context, cfg bridgeBenchConfig, script string) error {
	cpu0 := processCPU()
	rps, non2xx, err := runWrk(ctx, cfg, script, t.url)
	cpu := processCPU() - cpu0
	if err != nil {
		return err
	}
	t.rps = append(t.rps, rps)
	t.requests += rps * cfg.wrkDuration.Seconds()
	t.cpu += cpu
	t.non2xx += non2xx
	return nil
}

// result is the rounds' mean rate and the CPU time per request.
func (t *wrkTarget) result() (rps float64, cpuPerReq time.Duration, non2xx int) {
	if len(t.rps) == 0 {
		return 0, 0, t.non2xx
	}
	for _, r := range t.rps {
		rps += r
	}
	rps /= float64(len(t.rps))
	if t.requests > 0 && t.cpu > 0 {
		cpuPerReq = time.Duration(float64(t.cpu) / t.requests)
	}
	return rps, cpuPerReq, t.non2xx
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func createBenchTopics(ctx context.Context, kafkaAddr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, parts := range map[string]int32{"beacons": 8, "fanout": 1} {
		resp, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", topic, err)
		}
	}
	return nil
}

// startBareHandler is the baseline: read the body, answer 204.
func startBareHandler() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String() + "/beacon", nil
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

func runWrk(ctx context.Context, cfg bridgeBenchConfig, script, url string) (float64, int, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(cfg.wrkConns),
		"-d"+strconv.Itoa(int(cfg.wrkDuration/time.Second))+"s", "-s", script, url).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s (install it with scripts/install-bridge-test-deps.sh)", err, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	non2xx := 0
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		non2xx, _ = strconv.Atoi(string(m[1]))
	}
	return rps, non2xx, nil
}

// fanOut connects the subscribers, waits until every one is streaming,
// then publishes records stamped with their send time and measures when
// each subscriber reads each one.
func fanOut(ctx context.Context, cfg bridgeBenchConfig, addrs node.Addrs, rep *bridgeReport) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.subscribers, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		readyWG   sync.WaitGroup
		doneWG    sync.WaitGroup
		delivered atomic.Int64
		firstErr  error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	url := "http://" + addrs.HTTP + "/topics/fanout/events?from=latest"
	for i := 0; i < cfg.subscribers; i++ {
		readyWG.Add(1)
		doneWG.Add(1)
		go func() {
			defer doneWG.Done()
			readyOnce := sync.OnceFunc(readyWG.Done)
			defer readyOnce()
			req, _ := http.NewRequestWithContext(sctx, "GET", url, nil)
			resp, err := client.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				fail(fmt.Errorf("subscribe: HTTP %d", resp.StatusCode))
				return
			}
			rd := bufio.NewReader(resp.Body)
			got := 0
			for got < cfg.records {
				line, err := rd.ReadString('\n')
				if err != nil {
					if sctx.Err() == nil {
						fail(err)
					}
					return
				}
				if strings.HasPrefix(line, "event: ready") {
					readyOnce()
					continue
				}
				data, ok := strings.CutPrefix(line, "data: ")
				if !ok || strings.HasPrefix(data, `{"topic":"fanout"}`) {
					continue
				}
				var ev struct {
					Value struct {
						SentNanos int64 `json:"sent"`
					} `json:"value"`
				}
				if json.Unmarshal([]byte(data), &ev) != nil || ev.Value.SentNanos == 0 {
					continue
				}
				lat := time.Duration(time.Now().UnixNano() - ev.Value.SentNanos)
				mu.Lock()
				latencies = append(latencies, lat)
				mu.Unlock()
				delivered.Add(1)
				got++
			}
		}()
	}
	readyWG.Wait()
	if firstErr != nil {
		return firstErr
	}
	prodURL := "http://" + addrs.HTTP + "/topics/fanout"
	for i := 0; i < cfg.records; i++ {
		body := fmt.Sprintf(`{"records":[{"value":{"sent":%d,"i":%d}}]}`, time.Now().UnixNano(), i)
		resp, err := http.Post(prodURL, "application/vnd.kafka.json.v2+json", strings.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("produce: HTTP %d", resp.StatusCode)
		}
		time.Sleep(cfg.interval)
	}
	waitDone := make(chan struct{})
	go func() { doneWG.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		cancel()
		<-waitDone
	}
	rep.expected = int64(cfg.subscribers * cfg.records)
	rep.delivered = delivered.Load()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		rank := func(p float64) time.Duration { return latencies[max(0, int(float64(n)*p+0.999999)-1)] }
		rep.p50, rep.p99, rep.max = rank(0.50), rank(0.99), latencies[n-1]
	}
	if rep.delivered != rep.expected {
		return fmt.Errorf("delivered %d of %d events (%v)", rep.delivered, rep.expected, firstErr)
	}
	return nil
}
