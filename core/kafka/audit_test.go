package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClientRegexBounded: a regular expression from a client longer than
// maxClientRegexLen is refused with INVALID_REGULAR_EXPRESSION before it
// is compiled (ListTransactions v2, ConsumerGroupHeartbeat v1); one at
// the limit is still accepted.
func TestClientRegexBounded(t *testing.T) {
	addr, stop := startBroker(t, t.TempDir())
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	long := strings.Repeat("a", maxClientRegexLen+1)
	atLimit := strings.Repeat("a", maxClientRegexLen)

	lt := kmsg.NewPtrListTransactionsRequest()
	lt.Version, lt.DurationFilterMillis = 2, -1
	lt.TransactionalIDPattern = &long
	resp, err := lt.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != 2 || resp.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("ListTransactions v%d with a %d byte pattern: code %d, want %d", resp.Version, len(long), resp.ErrorCode, kerr.InvalidRegularExpression.Code)
	}
	lt.TransactionalIDPattern = &atLimit
	if resp, err = lt.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ListTransactions with a %d byte pattern: %v, code %d, want 0", len(atLimit), err, resp.ErrorCode)
	}

	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version = 1
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "g", "m-1234567890123456789012", 0, 30000
	hb.SubscribedTopicRegex = &long
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	hr, err := hb.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if hr.ErrorCode != kerr.InvalidRegularExpression.Code || hr.ErrorMessage == nil || !strings.Contains(*hr.ErrorMessage, "at most 4096") {
		t.Fatalf("ConsumerGroupHeartbeat with a %d byte regex: code %d (%v), want %d", len(long), hr.ErrorCode, hr.ErrorMessage, kerr.InvalidRegularExpression.Code)
	}
}

// TestElectLeadersDeduplicates: a partition named several times in one
// ElectLeaders request is elected (and answered) once, as Kafka treats
// the list as a set.
func TestElectLeadersDeduplicates(t *testing.T) {
	addr, stop := startBroker(t, t.TempDir())
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}}
	if r, err := ct.RequestWith(ctx, cl); err != nil || r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, r)
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0, 0, 7}}, {Topic: "t", Partitions: []int32{0, 7, -1}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int16{}
	n := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			got[rp.Partition] = rp.ErrorCode
			n++
		}
	}
	want := map[int32]int16{0: kerr.ElectionNotNeeded.Code, 7: kerr.UnknownTopicOrPartition.Code, -1: kerr.UnknownTopicOrPartition.Code}
	if n != 3 || len(resp.Topics) != 1 || got[0] != want[0] || got[7] != want[7] || got[-1] != want[-1] {
		t.Fatalf("got %d answers %v in %d topics, want %v in 1", n, got, len(resp.Topics), want)
	}
}

// TestListTransactionsManyFilters: a ListTransactions naming a million
// producer ids (and one state a million times) is answered by set
// lookups, with the same result as the short filter.
func TestListTransactionsManyFilters(t *testing.T) {
	// Parallel: it mostly waits on its own broker(s) and touches no
	// package state, so the quick run overlaps it.
	t.Parallel()
	addr, _ := startTxnBroker(t, &recordingMarkers{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var pid int64
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("big"), 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == 0 {
			pid = resp.ProducerID
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("init: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
	list := func(pids []int64, states []string) []string {
		t.Helper()
		req := kmsg.NewPtrListTransactionsRequest()
		req.ProducerIDFilters, req.StateFilters, req.DurationFilterMillis = pids, states, -1
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("list: %v %+v", err, resp)
		}
		var out []string
		for _, s := range resp.TransactionStates {
			out = append(out, s.TransactionalID+":"+s.TransactionState)
		}
		return out
	}
	many := make([]int64, 1_000_000)
	for i := range many {
		many[i] = pid + 1 + int64(i)
	}
	states := make([]string, 1_000_000)
	for i := range states {
		states[i] = "Empty"
	}
	start := time.Now()
	if got := list(many, states); len(got) != 0 {
		t.Fatalf("without its producer id: %v", got)
	}
	many[len(many)/2] = pid
	if got := list(many, states); len(got) != 1 || got[0] != "big:Empty" {
		t.Fatalf("with its producer id: %v", got)
	}
	t.Logf("two lists of 10^6 producer ids and states: %v", time.Since(start))
}
