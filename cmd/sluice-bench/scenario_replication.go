package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/testkit"
)

// The replication scenario measures what replication costs: the same
// acks=all produce workload against an RF=1 topic and an RF=3 topic
// (min.insync.replicas=2) on one 3-broker Sluice cluster coordinated by a
// real ZooKeeper, everything on this machine's cores. The RF3/RF1 ratio is
// the figure: machine speed cancels out of it.

const (
	// targetReplicationRatio is the RF=3 / RF=1 records/s Sluice aims for.
	targetReplicationRatio = 0.60
	// kafkaReplicationRatio is the ratio Kafka's own published figures
	// give for the same comparison, shown for context.
	kafkaReplicationRatio = 0.51
	clusterBrokers        = 3
	// replicationZKChroot keeps the bench's znodes apart from anything else.
	replicationZKChroot = "/sluice-bench"
)

// skippedWithoutSluice is what a Sluice-only scenario reports under
// -only kfake: not a failure, there is simply nothing to measure.
const skippedWithoutSluice = "skipped: this scenario measures Sluice only (-only kfake)"

var replicationWorkload = workload{name: "replication", recordSize: 1024, records: 200_000, partitions: 8}

// replicationVariant is one of the two topics compared.
type replicationVariant struct {
	label       string
	replication int16
	configs     map[string]*string
}

var replicationVariants = []replicationVariant{
	{label: "RF=1", replication: 1},
	{label: "RF=3", replication: 3, configs: map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}},
}

func replicationScenario() scenario {
	w := replicationWorkload
	return scenario{
		name: w.name,
		description: fmt.Sprintf("3-broker cluster (ZooKeeper): %s x %d B acks=all into RF=1 vs RF=3 topics, ratio (-quick: 1/%d)",
			groupDigits(w.records), w.recordSize, quickScale),
		run: func(ctx context.Context, env *benchEnv) section {
			return runReplicationBench(ctx, env, w.scaled(env.quick))
		},
	}
}

// replicationRuns is every repetition of one variant.
type replicationRuns struct {
	variant replicationVariant
	runs    []replicationRun
}

// replicationRun is one produce-and-verify pass on a fresh topic.
type replicationRun struct {
	produce     produceStats
	cpu         time.Duration // summed over the three brokers
	consumed    int64
	shrunkISR   int // partitions whose ISR was smaller than the replicas after producing
	replication int16
}

type replicationReport struct {
	workload workload
	variants []replicationRuns
	skipped  bool
	errs     []error
	rolling  rollingResult // scenario_rolling.go
}

func (r *replicationReport) err() error { return errors.Join(r.errs...) }

// median is the run with the median records/s (the lower middle for an
// even count, so always a real run), the records/s range and run count.
func (v replicationRuns) median() (run replicationRun, lo, hi float64, n int) {
	if len(v.runs) == 0 {
		return replicationRun{}, 0, 0, 0
	}
	rate := func(x replicationRun) float64 { return produceRate(x.produce) }
	sorted := slices.Clone(v.runs)
	slices.SortFunc(sorted, func(a, b replicationRun) int { return compareFloat(rate(a), rate(b)) })
	return sorted[(len(sorted)-1)/2], rate(sorted[0]), rate(sorted[len(sorted)-1]), len(sorted)
}

func produceRate(p produceStats) float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(p.records) / p.elapsed.Seconds()
}

// ratio is RF=3 over RF=1 median records/s, or false when either is missing.
func (r *replicationReport) ratio() (float64, bool) {
	if len(r.variants) != 2 {
		return 0, false
	}
	one, _, _, n1 := r.variants[0].median()
	three, _, _, n3 := r.variants[1].median()
	if n1 == 0 || n3 == 0 || produceRate(one.produce) == 0 {
		return 0, false
	}
	return produceRate(three.produce) / produceRate(one.produce), true
}

func (r *replicationReport) render(out io.Writer) {
	w := r.workload
	fmt.Fprintf(out, "\n== replication: %s records x %d B = %.1f MB per topic, %d partitions, acks=all, idempotent; %d Sluice brokers + ZooKeeper on this machine\n",
		groupDigits(w.records), w.recordSize, float64(w.totalBytes())/megabyte, w.partitions, clusterBrokers)
	if r.skipped {
		fmt.Fprintln(out, skippedWithoutSluice)
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "topic\trecords/s\tMB/s\tack p50\tack p99\tbrokers CPU s\tconsumed\tISR shrunk\truns: records/s range\t")
	for _, v := range r.variants {
		run, lo, hi, n := v.median()
		if n == 0 {
			fmt.Fprintf(tw, "%s\tFAILED\t-\t-\t-\t-\t-\t-\t-\t\n", v.variant.label)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%.2f\t%s\t%d\t%s\t\n", v.variant.label,
			groupDigits(int64(produceRate(run.produce))), mbPerSecond(run.produce.bytes, run.produce.elapsed),
			millis(run.produce.ackP50), millis(run.produce.ackP99), run.cpu.Seconds(),
			groupDigits(run.consumed), run.shrunkISR, rangeCell(lo, hi, n))
	}
	_ = tw.Flush()
	fmt.Fprintln(out, r.ratioLine())
	if l := r.rolling.line(); l != "" {
		fmt.Fprintln(out, l)
	}
	for _, err := range r.errs {
		fmt.Fprintf(out, "FAILED %v\n", err)
		writeBrokerOutput(out, err)
	}
}

func rangeCell(lo, hi float64, n int) string {
	if n <= 1 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d: %s-%s", n, compactCount(lo), compactCount(hi))
}

func (r *replicationReport) ratioLine() string {
	x, ok := r.ratio()
	if !ok {
		return "RF3/RF1 records/s: n/a"
	}
	return fmt.Sprintf("RF3/RF1 records/s: %.2fx [target >= %.2fx: %s] (Kafka's published figure: %.2fx)",
		x, targetReplicationRatio, passOrMiss(x >= targetReplicationRatio), kafkaReplicationRatio)
}

func (r *replicationReport) summary() []string {
	if r.skipped {
		return []string{"replication: " + skippedWithoutSluice}
	}
	var lines []string
	for _, v := range r.variants {
		run, lo, hi, n := v.median()
		if n == 0 {
			lines = append(lines, fmt.Sprintf("replication %s: FAILED", v.variant.label))
			continue
		}
		lines = append(lines, fmt.Sprintf("replication %s: %s rec/s %.1f MB/s p50 %s p99 %s, consumed %s/%s (median of %d, range %s)",
			v.variant.label, groupDigits(int64(produceRate(run.produce))), mbPerSecond(run.produce.bytes, run.produce.elapsed),
			millis(run.produce.ackP50), millis(run.produce.ackP99), groupDigits(run.consumed), groupDigits(run.produce.records),
			n, rangeCell(lo, hi, n)))
	}
	lines = append(lines, "replication "+r.ratioLine())
	if l := r.rolling.line(); l != "" {
		lines = append(lines, "replication "+l)
	}
	return lines
}

func runReplicationBench(ctx context.Context, env *benchEnv, w workload) *replicationReport {
	rep := &replicationReport{workload: w}
	for _, v := range replicationVariants {
		rep.variants = append(rep.variants, replicationRuns{variant: v})
	}
	sluicePath, ok := sluiceBinary(env)
	if !ok {
		rep.skipped = true
		return rep
	}
	fail := func(phase string, err error) *replicationReport {
		rep.errs = append(rep.errs, &phaseError{Scenario: w.name, Broker: "sluice cluster", Phase: phase, Err: err})
		return rep
	}

	zkDir, err := os.MkdirTemp("", "sluice-bench-zk-")
	if err != nil {
		return fail("start", err)
	}
	defer os.RemoveAll(zkDir)
	env.log.Info("replication bench: starting ZooKeeper")
	zk, err := zktest.Launch(zkDir)
	if err != nil {
		return fail("start ZooKeeper", err)
	}
	defer zk.Stop()

	nodes, err := startCluster(ctx, env, sluicePath, zk.Addr+replicationZKChroot)
	defer func() {
		for _, b := range nodes {
			b.stop()
		}
	}()
	if err != nil {
		return fail("start", err)
	}
	parent := ctx
	ctx, cancel := watchAll(ctx, nodes)
	defer cancel()

	payload := newPayloadSource(w.recordSize)
	// Alternate the variants so a slow spell of the machine hits both.
	for i := 1; i <= env.repeat && ctx.Err() == nil; i++ {
		for vi := range rep.variants {
			series := &rep.variants[vi]
			topic := fmt.Sprintf("sluice-bench-rf%d-%d", series.variant.replication, i)
			env.log.Info("replication bench", "topic", topic, "repetition", fmt.Sprintf("%d/%d", i, env.repeat), "records", w.records)
			run, phase, err := replicationPass(ctx, nodes, topic, series.variant, w, payload)
			if err != nil {
				return fail(series.variant.label+" "+phase, causeOr(ctx, err))
			}
			series.runs = append(series.runs, run)
		}
	}
	if ctx.Err() == nil {
		rep.rolling = runRollingRestart(parent, env, sluicePath, zk.Addr)
	}
	return rep
}

// sluiceBinary finds the Sluice binary among the selected brokers: the
// path its launch spec runs (the -sluice flag).
func sluiceBinary(env *benchEnv) (string, bool) {
	for _, spec := range env.brokers {
		if spec.name == "sluice" {
			return spec.binary, true
		}
	}
	return "", false
}

// clusterSpec launches broker id of a ZooKeeper cluster with the HTTP
// listener off (nothing here uses it).
func clusterSpec(sluicePath string, id int, zkConnect string) brokerSpec {
	return brokerSpec{name: fmt.Sprintf("sluice-%d", id), binary: sluicePath,
		args: []string{"--broker-id", strconv.Itoa(id), "--zookeeper", zkConnect}}
}

// startCluster starts the brokers one after another; on error it returns
// those already started so the caller stops them.
func startCluster(ctx context.Context, env *benchEnv, sluicePath, zkConnect string) ([]*brokerProcess, error) {
	var nodes []*brokerProcess
	for id := 1; id <= clusterBrokers; id++ {
		b, err := startBroker(ctx, clusterSpec(sluicePath, id, zkConnect), env.log)
		if err != nil {
			return nodes, err
		}
		nodes = append(nodes, b)
	}
	// Every broker answers Ping once it serves, but a topic can only get
	// three replicas once all three are registered: wait for that.
	return nodes, awaitBrokers(ctx, nodes[0].addr, clusterBrokers)
}

func awaitBrokers(ctx context.Context, addr string, want int) error {
	ctx, cancel := context.WithTimeoutCause(ctx, readyTimeout, fmt.Errorf("not all brokers registered after %s", readyTimeout))
	defer cancel()
	return testkit.WaitForBrokers(ctx, []kgo.Opt{kgo.SeedBrokers(addr)}, want)
}

// watchAll cancels the returned context as soon as any broker dies.
func watchAll(ctx context.Context, nodes []*brokerProcess) (context.Context, context.CancelFunc) {
	var cancels []context.CancelFunc
	for _, b := range nodes {
		var cancel context.CancelFunc
		ctx, cancel = b.watch(ctx)
		cancels = append(cancels, cancel)
	}
	return ctx, func() {
		for _, c := range cancels {
			c()
		}
	}
}

// replicationPass creates topic, produces the workload into it, checks the
// ISR stayed whole (a follower dropping out would make acks=all cheaper
// and the figure flattering), reads everything back, then deletes the
// topic so repetitions do not fill the disk. It names the failed phase.
func replicationPass(ctx context.Context, nodes []*brokerProcess, topic string, v replicationVariant,
	w workload, payload *payloadSource) (replicationRun, string, error) {
	run := replicationRun{replication: v.replication}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].addr))
	if err != nil {
		return run, "create-topic", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, w.partitions, v.replication, v.configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return run, "create-topic", err
	}
	if err := awaitTopicOnEveryBroker(ctx, cl, topic, w.partitions, v.replication); err != nil {
		return run, "create-topic", err
	}

	before, err := clusterCPU(nodes)
	if err != nil {
		return run, "produce", err
	}
	if run.produce, err = produceAll(ctx, nodes[0].addr, topic, w, payload); err != nil {
		return run, "produce", err
	}
	after, err := clusterCPU(nodes)
	if err != nil {
		return run, "produce", err
	}
	run.cpu = after - before

	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return run, "metadata", err
	}
	for _, p := range md.Topics[topic].Partitions {
		if len(p.ISR) < len(p.Replicas) {
			run.shrunkISR++
		}
	}

	consumed, err := consumeAll(ctx, nodes[0].addr, topic, run.produce)
	if err != nil {
		return run, "consume", err
	}
	run.consumed = consumed.records

	del, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = del.Err
	}
	if err != nil {
		return run, "delete-topic", err
	}
	return run, "", nil
}

// awaitTopicOnEveryBroker waits until every broker's own metadata shows
// topic with a leader and a full ISR on each partition. Creation in
// cluster mode completes asynchronously: producing before the leaders have
// taken over earns UNKNOWN_TOPIC_OR_PARTITION, which kgo retries only a
// few times before failing the records.
func awaitTopicOnEveryBroker(ctx context.Context, cl *kgo.Client, topic string, partitions int32, replication int16) error {
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(readyTimeout)
	for _, broker := range md.Brokers {
		for !topicReadyOn(ctx, cl, broker.NodeID, topic, partitions, replication) {
			if time.Now().After(deadline) {
				return fmt.Errorf("topic %s not led and fully replicated on broker %d within %s", topic, broker.NodeID, readyTimeout)
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// topicReadyOn asks broker id itself (not whichever broker kgo picks) for
// topic's metadata.
func topicReadyOn(ctx context.Context, cl *kgo.Client, id int32, topic string, partitions int32, replication int16) bool {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != int(partitions) {
		return false
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) != int(replication) {
			return false
		}
	}
	return true
}

// clusterCPU is the brokers' summed user+system CPU time so far.
func clusterCPU(nodes []*brokerProcess) (time.Duration, error) {
	var ticks int64
	for _, b := range nodes {
		t, err := cpuTicks(b.pid())
		if err != nil {
			return 0, fmt.Errorf("read broker CPU: %w", err)
		}
		ticks += t
	}
	return ticksToDuration(ticks), nil
}
