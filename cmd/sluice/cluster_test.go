package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// normalizeColumns collapses each line's column padding to single spaces,
// so tests compare every cell exactly without depending on how wide a
// random port or cluster id made the columns.
func normalizeColumns(out string) []string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, line := range lines {
		lines[i] = strings.Join(strings.Fields(line), " ")
	}
	return lines
}

// clusterID asks the broker for its cluster id, which is random per data
// directory, so expected output can name it.
func clusterID(t *testing.T, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Cluster == "" {
		t.Fatal("broker reports no cluster id")
	}
	return md.Cluster
}

func assertLines(t *testing.T, what, out string, want []string) {
	t.Helper()
	got := normalizeColumns(out)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClusterDescribeSingleBroker(t *testing.T) {
	addr := startSluice(t)
	brokers := "--brokers=" + addr
	t.Setenv("SLUICE_BROKERS", "")
	id := clusterID(t, addr)
	head := []string{
		"Cluster ID: " + id,
		"Controller: 0",
		"Brokers: 1",
		"",
		"BROKER ADDRESS RACK",
		"0 " + addr + " -",
		"",
	}

	// A single node creates __consumer_offsets at start, with Kafka's
	// default offsets.topic.num.partitions; its healthy partitions are
	// counted but not listed.
	const offsetsPartitions = 50
	hiddenNote := "Not listed: 50 healthy partitions of internal topics (__consumer_offsets); --internal lists them."

	out := mustSluice(t, "cluster", "describe", brokers)
	if !strings.HasPrefix(out, "Cluster ID:  "+id+"\nController:  0\nBrokers:     1\n") {
		t.Errorf("header not aligned as a table:\n%s", out)
	}
	want := append(head[:len(head):len(head)],
		"TOPIC PARTITION LEADER EPOCH REPLICAS ISR STATUS",
		"",
		"Partitions: 50, under-replicated: 0, offline: 0",
		hiddenNote,
	)
	assertLines(t, "fresh broker", out, want)

	mustSluice(t, "topic", "create", "orders", "--partitions", "3", brokers)
	mustSluice(t, "topic", "create", "events", "--partitions", "1", brokers)

	out = mustSluice(t, "cluster", "describe", brokers)
	want = append(head[:len(head):len(head)],
		"TOPIC PARTITION LEADER EPOCH REPLICAS ISR STATUS",
		"events 0 0 0 0 0 ok",
		"orders 0 0 0 0 0 ok",
		"orders 1 0 0 0 0 ok",
		"orders 2 0 0 0 0 ok",
		"",
		"Partitions: 54, under-replicated: 0, offline: 0",
		hiddenNote,
	)
	assertLines(t, "two topics", out, want)

	// --internal lists every partition; the brokers can come from the
	// environment like every admin command's.
	t.Setenv("SLUICE_BROKERS", addr)
	out = mustSluice(t, "cluster", "describe", "--internal")
	want = append(head[:len(head):len(head)], "TOPIC PARTITION LEADER EPOCH REPLICAS ISR STATUS")
	for p := range offsetsPartitions {
		want = append(want, fmt.Sprintf("__consumer_offsets %d 0 0 0 0 ok", p))
	}
	want = append(want,
		"events 0 0 0 0 0 ok",
		"orders 0 0 0 0 0 ok",
		"orders 1 0 0 0 0 ok",
		"orders 2 0 0 0 0 ok",
		"",
		"Partitions: 54, under-replicated: 0, offline: 0",
	)
	assertLines(t, "--internal", out, want)
}

func TestClusterDescribeUsageAndErrors(t *testing.T) {
	r := runSluice("cluster", "describe", "extra")
	if r.code != exitUsage || r.stdout != "" ||
		!strings.HasPrefix(r.stderr, "sluice: cluster describe: want 0 argument(s) (), got 1\n") {
		t.Errorf("extra argument: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runSluice("cluster")
	if r.code != exitUsage || !strings.HasPrefix(r.stderr, "sluice: cluster: missing subcommand\n") {
		t.Errorf("no subcommand: exit %d stderr %q", r.code, r.stderr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r = runSluice("cluster", "describe", "--brokers", addr)
	want := fmt.Sprintf("sluice: describe cluster: unable to dial: dial tcp %s: connect: connection refused\n", addr)
	if r.code != exitError || r.stdout != "" || r.stderr != want {
		t.Errorf("unreachable: exit %d stdout %q stderr %q, want %q", r.code, r.stdout, r.stderr, want)
	}
}

// clusterNode is one in-process broker of a ZooKeeper-backed test
// cluster (the kit's member).
type clusterNode = testkit.Member

func TestClusterDescribeThreeBrokersWithAFailure(t *testing.T) {
	c := testkit.StartCluster(t, testkit.ClusterConfig{InProcess: 3, NodeOptions: []testkit.Option{testkit.WithLogCapture(slog.LevelDebug)}})
	nodes := c.Members
	brokers := "--brokers=" + nodes[0].Addr
	t.Setenv("SLUICE_BROKERS", "")

	mustSluice(t, "topic", "create", "r3", "--partitions", "2", "--replicas", "3", "--config", "min.insync.replicas=2", brokers)
	mustSluice(t, "topic", "create", "solo", "--partitions", "3", "--replicas", "1", brokers)

	// Healthy: every partition is ok, and every broker is listed.
	md := awaitMetadata(t, nodes[0].Addr, func(md kadm.Metadata) bool { return countStatuses(md) == [3]int{5, 0, 0} })
	out := mustSluice(t, "cluster", "describe", brokers)
	assertLines(t, "healthy cluster", out, expectedDescribe(md, nodes, "Partitions: 5, under-replicated: 0, offline: 0"))

	// Broker 3 goes away: r3 keeps its leaders but its ISR shrinks, and the
	// solo partition that lived only on broker 3 has no leader left.
	var soloOn3 int
	for _, p := range md.Topics["solo"].Partitions {
		if len(p.Replicas) == 1 && p.Replicas[0] == 3 {
			soloOn3++
		}
	}
	if soloOn3 != 1 {
		t.Fatalf("solo has %d partitions on broker 3, want 1 (3 partitions spread over 3 brokers): %+v", soloOn3, md.Topics["solo"].Partitions)
	}
	nodes[2].Node.Stop()
	md = awaitMetadata(t, nodes[0].Addr, func(md kadm.Metadata) bool { return countStatuses(md) == [3]int{2, 2, 1} })
	out = mustSluice(t, "cluster", "describe", brokers)
	assertLines(t, "broker 3 stopped", out, expectedDescribe(md, nodes[:2], "Partitions: 5, under-replicated: 2, offline: 1"))
	for _, want := range []string{" under-replicated\n", " offline (LEADER_NOT_AVAILABLE)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("broker 3 stopped: no %q in:\n%s", want, out)
		}
	}
}

// awaitMetadata polls the cluster's metadata until ready accepts it.
func awaitMetadata(t *testing.T, addr string, ready func(kadm.Metadata) bool) kadm.Metadata {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last kadm.Metadata
	for time.Now().Before(deadline) {
		md, err := fetchMetadata(addr)
		if err == nil && ready(md) {
			return md
		}
		last = md
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cluster did not reach the expected state within 30s; last metadata: %+v", last.Topics)
	return kadm.Metadata{}
}

// fetchMetadata asks with a fresh client, so nothing is served from a cache.
func fetchMetadata(addr string) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return kadm.NewClient(cl).Metadata(ctx)
}

// countStatuses counts partitions that are healthy, under-replicated and
// offline, by the definitions the command documents.
func countStatuses(md kadm.Metadata) (counts [3]int) {
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			switch {
			case p.Leader < 0:
				counts[2]++
			case len(p.ISR) < len(p.Replicas):
				counts[1]++
			default:
				counts[0]++
			}
		}
	}
	return counts
}

// expectedDescribe is the normalized output for md with live brokers,
// statuses derived from the test's own knowledge of the cluster: every r3
// partition is under-replicated while a broker is down, a solo partition
// is offline when its only replica is.
func expectedDescribe(md kadm.Metadata, live []*clusterNode, summary string) []string {
	lines := []string{
		"Cluster ID: " + md.Cluster,
		"Controller: " + fmt.Sprint(md.Controller),
		fmt.Sprintf("Brokers: %d", len(live)),
		"",
		"BROKER ADDRESS RACK",
	}
	for _, n := range live {
		lines = append(lines, fmt.Sprintf("%d %s -", n.ID, n.Addr))
	}
	lines = append(lines, "", "TOPIC PARTITION LEADER EPOCH REPLICAS ISR STATUS")
	brokerDown := len(live) < 3
	for _, topic := range []string{"r3", "solo"} {
		for _, p := range md.Topics[topic].Partitions.Sorted() {
			leader, status := fmt.Sprint(p.Leader), "ok"
			switch {
			case brokerDown && topic == "r3":
				status = "under-replicated"
			case brokerDown && p.Replicas[0] == 3:
				leader, status = "none", "offline (LEADER_NOT_AVAILABLE)"
			}
			isr := joinInt32s(p.ISR)
			if isr == "" {
				isr = "-"
			}
			lines = append(lines, fmt.Sprintf("%s %d %s %d %s %s %s",
				topic, p.Partition, leader, p.LeaderEpoch, joinInt32s(p.Replicas), isr, status))
		}
	}
	return append(lines, "", summary)
}
