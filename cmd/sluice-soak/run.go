package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The soak's topics and their partition counts.
const (
	topicKgo    = "soak-kgo"
	topicSarama = "soak-sarama"
	topicHTTP   = "soak-http"
	topicVictim = "soak-victim" // hostile produces go here: must stay empty
	perIPLimit  = 64            // --max-connections-per-ip for the soak broker
)

var topicPartitions = map[string]int32{topicKgo: 6, topicSarama: 3, topicHTTP: 2, topicVictim: 1}

// attackStat counts one kind of hostile request.
type attackStat struct {
	sent, refused int
	failures      map[string]int // the broker did not refuse as it should
}

// summary is what a soak run found.
type summary struct {
	Seed                     int64
	Duration                 time.Duration
	Restarts                 int
	SIGTERMs, SIGKILLs       int
	SlowStops, Crashes       int
	UncleanTerms             int
	PeakRSSKB, PeakFDs       int64
	LastRSSKB                int64
	Producers                []producerResult
	Attacks                  map[string]*attackStat
	GroupConsumed, PlainRead int64
	PlainRewinds             int64
	ReadChanged, ReadGone    int64 // plain-consumer reads the final log contradicts
	ConsumerErrs             map[string]int
	Foreign                  int64 // records no producer sent
	CommitsPastEnd           int   // group commits beyond a partition's end
	VictimEnd                int64
	UpAtEnd                  bool
	CleanExit                bool
	PanicLogLines            int
	ErrorLogLines            int // level=ERROR lines in the broker log (reported, not a failure)
	LogTail                  string
}

type producerResult struct {
	Name, Topic                    string
	Sent, Acked                    int64
	Lost, Dup, Misplaced, Disorder int64
	UnackedPresent                 int64
	Errors                         map[string]int
}

func (s *summary) problems() []string {
	var out []string
	for _, p := range s.Producers {
		if p.Lost > 0 || p.Dup > 0 || p.Misplaced > 0 || p.Disorder > 0 {
			out = append(out, fmt.Sprintf("%s: %d lost, %d duplicated, %d not at their acknowledged offset, %d out of order",
				p.Name, p.Lost, p.Dup, p.Misplaced, p.Disorder))
		}
		if p.Acked == 0 {
			out = append(out, fmt.Sprintf("%s: nothing acknowledged", p.Name))
		}
	}
	if s.Foreign > 0 {
		out = append(out, fmt.Sprintf("%d records in the log that no producer sent", s.Foreign))
	}
	if s.ReadChanged > 0 || s.ReadGone > 0 {
		out = append(out, fmt.Sprintf("plain consumer: %d records read then changed, %d read then gone", s.ReadChanged, s.ReadGone))
	}
	if s.CommitsPastEnd > 0 {
		out = append(out, fmt.Sprintf("%d consumer group commits past the log end", s.CommitsPastEnd))
	}
	if s.Crashes > 0 {
		out = append(out, fmt.Sprintf("broker exited by itself %d times", s.Crashes))
	}
	if s.SlowStops > 0 || s.UncleanTerms > 0 {
		out = append(out, fmt.Sprintf("SIGTERM: %d stops took over %v, %d exited non-zero", s.SlowStops, stopTimeout, s.UncleanTerms))
	}
	for name, a := range s.Attacks {
		for f, n := range a.failures {
			out = append(out, fmt.Sprintf("hostile %q: %dx %s", name, n, f))
		}
	}
	if s.VictimEnd != 0 {
		out = append(out, fmt.Sprintf("victim topic holds %d records from hostile produces", s.VictimEnd))
	}
	if !s.UpAtEnd {
		out = append(out, "broker not serving at the end")
	}
	if !s.CleanExit {
		out = append(out, "broker did not exit cleanly on the final SIGTERM")
	}
	if s.PanicLogLines > 0 {
		out = append(out, fmt.Sprintf("%d broker log lines mention a panic", s.PanicLogLines))
	}
	sort.Strings(out)
	return out
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "sluice soak: %v, seed %d\n", s.Duration.Round(time.Second), s.Seed)
	fmt.Fprintf(w, "restarts: %d (%d SIGTERM, %d SIGKILL); self-exits (crashes): %d; slow SIGTERM stops: %d\n",
		s.Restarts, s.SIGTERMs, s.SIGKILLs, s.Crashes, s.SlowStops)
	fmt.Fprintf(w, "broker peak RSS %d MB (VmHWM, max over incarnations), last RSS %d MB, peak fds %d\n",
		s.PeakRSSKB>>10, s.LastRSSKB>>10, s.PeakFDs)
	fmt.Fprintf(w, "%-14s %-12s %9s %9s %6s %6s %9s %9s %14s %7s\n", "producer", "topic", "sent", "acked", "lost", "dup", "misplaced", "disorder", "unacked-in-log", "errors")
	for _, p := range s.Producers {
		n := 0
		for _, c := range p.Errors {
			n += c
		}
		fmt.Fprintf(w, "%-14s %-12s %9d %9d %6d %6d %9d %9d %14d %7d\n", p.Name, p.Topic, p.Sent, p.Acked, p.Lost, p.Dup, p.Misplaced, p.Disorder, p.UnackedPresent, n)
	}
	for _, p := range s.Producers {
		for _, e := range topErrs(p.Errors, 4) {
			fmt.Fprintf(w, "  %s error: %s\n", p.Name, e)
		}
	}
	fmt.Fprintf(w, "consumers: group read %d (commits past end %d), plain read %d (rewinds %d; read-then-changed %d, read-then-gone %d)\n",
		s.GroupConsumed, s.CommitsPastEnd, s.PlainRead, s.PlainRewinds, s.ReadChanged, s.ReadGone)
	for _, e := range topErrs(s.ConsumerErrs, 6) {
		fmt.Fprintf(w, "  consumer error: %s\n", e)
	}
	total, refused := 0, 0
	for _, name := range slices.Sorted(maps.Keys(s.Attacks)) {
		a := s.Attacks[name]
		total += a.sent
		refused += a.refused
		fmt.Fprintf(w, "  hostile %-40s sent %5d refused %5d\n", name, a.sent, a.refused)
	}
	fmt.Fprintf(w, "hostile requests: %d sent, %d refused as expected; victim topic end offset %d\n", total, refused, s.VictimEnd)
	fmt.Fprintf(w, "foreign records: %d; broker up at end: %v; clean final exit: %v; broker log: %d panic lines, %d ERROR lines\n",
		s.Foreign, s.UpAtEnd, s.CleanExit, s.PanicLogLines, s.ErrorLogLines)
}

func topErrs(m map[string]int, n int) []string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b] - m[a] })
	var out []string
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, fmt.Sprintf("%dx %s", m[k], k))
	}
	return out
}

// run is one soak: start, load, restart, attack, stop, verify.
func run(ctx context.Context, cfg config, log *slog.Logger) (*summary, error) {
	if cfg.RestartMax < cfg.RestartMin {
		return nil, errors.New("restart-max is below restart-min")
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-soak-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	// One generator per goroutine: restarts and attacks each follow the
	// seed whatever the other does.
	restartRng := rand.New(rand.NewPCG(uint64(cfg.Seed), 1))
	attackRng := rand.New(rand.NewPCG(uint64(cfg.Seed), 2))
	b, err := newBroker(cfg.Bin, dir, []string{"--max-connections-per-ip", strconv.Itoa(perIPLimit),
		"--log-segment-bytes", strconv.FormatInt(cfg.SegmentBytes, 10)}, log)
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	sum := &summary{Seed: cfg.Seed, Duration: cfg.Duration, Attacks: map[string]*attackStat{}}
	ok := false
	defer func() {
		b.Close()
		if ok && cfg.Dir == "" {
			os.RemoveAll(dir)
		} else {
			log.Info("soak data and broker log kept", "dir", dir)
		}
	}()
	log.Info("broker up", "kafka", b.addr, "http", b.httpAddr, "dir", dir, "seed", cfg.Seed)

	if err := createTopics(ctx, b.addr); err != nil {
		return nil, err
	}
	h, err := newHostiles(b.addr, topicVictim, perIPLimit, attackRng)
	if err != nil {
		return nil, err
	}
	defer h.close()

	// restartMu: restarts take it exclusively, hostile requests and crash
	// checks shared, so attacks hit a live broker.
	var restartMu sync.RWMutex
	var peakRSS, peakFDs, lastRSS int64
	var statMu sync.Mutex

	ledgers := []*ledger{newLedger("kgo-1", topicKgo), newLedger("kgo-2", topicKgo), newLedger("kgo-snappy", topicKgo),
		newLedger("sarama", topicSarama), newLedger("http", topicHTTP)}
	cst := &consumerStats{errs: map[string]int{}, seen: map[int32]map[int64]uint64{}}

	prodCtx, stopProducers := context.WithCancel(ctx)
	consCtx, stopConsumers := context.WithCancel(context.Background())
	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopProducers()
	defer stopConsumers()
	defer stopChaos()

	var prodWG, consWG, chaosWG sync.WaitGroup
	for i, l := range ledgers[:3] {
		codec := kgo.NoCompression()
		if i == 2 {
			codec = kgo.SnappyCompression()
		}
		prodWG.Go(func() {
			if err := runKgoProducer(prodCtx, b.addr, l, cfg.KgoRate, codec, cfg.FlushFor); err != nil {
				l.fail(err)
			}
		})
	}
	prodWG.Go(func() {
		if err := runSaramaProducer(prodCtx, b.addr, ledgers[3], cfg.SaramaRate); err != nil {
			ledgers[3].fail(err)
		}
	})
	prodWG.Go(func() { runHTTPProducer(prodCtx, b.httpAddr, ledgers[4], cfg.HTTPRate) })
	consWG.Go(func() { runGroupConsumer(consCtx, b.addr, []string{topicKgo, topicSarama, topicHTTP}, cst, log) })
	consWG.Go(func() { runPlainConsumer(consCtx, b.addr, topicKgo, topicPartitions[topicKgo], cst) })

	// Sampler and crash watch.
	sampleDone := make(chan struct{})
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
			restartMu.RLock()
			s, err := sampleProc(b.Pid())
			if err == nil {
				statMu.Lock()
				peakRSS, peakFDs, lastRSS = max(peakRSS, s.hwmKB, s.rssKB), max(peakFDs, int64(s.fds)), s.rssKB
				statMu.Unlock()
			} else if err := b.proc.ExitError(); err != nil {
				log.Error("broker exited by itself", "exit", err)
				if _, err := b.EnsureUp(); err != nil {
					log.Error("restart after crash failed", "err", err)
				}
			}
			restartMu.RUnlock()
		}
	}()

	// Restarts: SIGKILL and SIGTERM alternate, SIGKILL first so that even
	// a short run recovers from a crash.
	restarts := 0
	chaosWG.Go(func() {
		useKill := true
		for {
			wait := cfg.RestartMin
			if d := cfg.RestartMax - cfg.RestartMin; d > 0 {
				wait += time.Duration(restartRng.Int64N(int64(d)))
			}
			select {
			case <-chaosCtx.Done():
				return
			case <-time.After(wait):
			}
			sig := syscall.SIGTERM
			if useKill {
				sig = syscall.SIGKILL
			}
			useKill = !useKill
			restartMu.Lock()
			// Sample right before stopping: VmHWM dies with the process.
			if s, err := sampleProc(b.Pid()); err == nil {
				statMu.Lock()
				peakRSS, peakFDs = max(peakRSS, s.hwmKB), max(peakFDs, int64(s.fds))
				statMu.Unlock()
			}
			start := time.Now()
			stopErr, err := b.Restart(sig)
			if sig == syscall.SIGTERM && stopErr != nil {
				sum.UncleanTerms++
			}
			restarts++
			restartMu.Unlock()
			log.Info("broker restarted", "signal", sig.String(), "took", time.Since(start).Round(time.Millisecond), "err", err)
			if err != nil {
				log.Error("restart failed", "err", err, "log_tail", b.logTail(2000))
			}
		}
	})

	// Hostile requests.
	var attackMu sync.Mutex
	chaosWG.Go(func() {
		list := h.attacks()
		for {
			select {
			case <-chaosCtx.Done():
				return
			case <-time.After(cfg.HostileEvery):
			}
			a := list[attackRng.IntN(len(list))]
			restartMu.RLock()
			actx, cancel := context.WithTimeout(chaosCtx, 30*time.Second)
			err := a.run(actx)
			cancel()
			restartMu.RUnlock()
			if chaosCtx.Err() != nil {
				return
			}
			attackMu.Lock()
			st := sum.Attacks[a.name]
			if st == nil {
				st = &attackStat{failures: map[string]int{}}
				sum.Attacks[a.name] = st
			}
			st.sent++
			if err == nil {
				st.refused++
			} else {
				st.failures[errKey(err)]++
				log.Warn("hostile request not refused", "attack", a.name, "err", err)
			}
			attackMu.Unlock()
		}
	})

	progress := time.NewTicker(30 * time.Second)
	deadline := time.After(cfg.Duration)
	start := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			break loop
		case <-progress.C:
			statMu.Lock()
			rss := lastRSS
			statMu.Unlock()
			var acked int
			for _, l := range ledgers {
				l.mu.Lock()
				acked += len(l.acked)
				l.mu.Unlock()
			}
			log.Info("soak progress", "elapsed", time.Since(start).Round(time.Second), "acked", acked, "restarts", restarts, "rss_mb", rss>>10)
		}
	}
	progress.Stop()
	stopChaos()
	chaosWG.Wait()
	restartMu.Lock()
	if _, err := b.EnsureUp(); err != nil {
		restartMu.Unlock()
		return sum, fmt.Errorf("broker down at the end: %w", err)
	}
	restartMu.Unlock()
	log.Info("stopping producers (final flush)")
	stopProducers()
	prodWG.Wait()
	time.Sleep(2 * time.Second) // let the consumers catch up a little
	stopConsumers()
	consWG.Wait()

	sum.Restarts = restarts
	log.Info("reading every topic back")
	if err := verify(context.Background(), b.addr, ledgers, cst, sum); err != nil {
		return sum, fmt.Errorf("verify: %w", err)
	}
	sum.UpAtEnd = ping(b.addr) == nil
	stopSampling()
	<-sampleDone
	if s, err := sampleProc(b.Pid()); err == nil {
		peakRSS, peakFDs, lastRSS = max(peakRSS, s.hwmKB), max(peakFDs, int64(s.fds)), s.rssKB
	}
	sum.PeakRSSKB, sum.PeakFDs, sum.LastRSSKB = peakRSS, peakFDs, lastRSS
	sum.SIGTERMs, sum.SIGKILLs, sum.SlowStops, sum.Crashes = b.counts()
	sum.CleanExit = b.Stop() == nil
	sum.PanicLogLines = countLines(b.logPath, "panic")
	sum.ErrorLogLines = countLines(b.logPath, "level=error")
	cst.mu.Lock()
	sum.GroupConsumed, sum.PlainRead, sum.PlainRewinds, sum.ConsumerErrs = cst.group, cst.plain, cst.rewinds, cst.errs
	cst.mu.Unlock()
	ok = len(sum.problems()) == 0
	return sum, nil
}

func createTopics(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range slices.Sorted(maps.Keys(topicPartitions)) {
		resp, err := adm.CreateTopic(ctx, topicPartitions[t], 1, nil, t)
		if err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
		if resp.Err != nil {
			return fmt.Errorf("create %s: %w", t, resp.Err)
		}
	}
	return nil
}

func ping(addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(1))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// countLines counts broker log lines that contain word in any case (a
// recovered handler panic is logged; an unrecovered one ends the process).
func countLines(path, word string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(bytes.ToLower(line), []byte(word)) {
			n++
		}
	}
	return n
}
