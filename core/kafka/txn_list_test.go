package kafka

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestListTransactionsFilters: ListTransactions v1's duration filter
// (only transactions running longer; -1 none) and v2's transactional id
// pattern (RE2, whole ids; a bad one is INVALID_REGULAR_EXPRESSION), alone
// and with the state and producer id filters.
func TestListTransactionsFilters(t *testing.T) {
	addr, _ := startTxnBroker(t, &recordingMarkers{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	pids := map[string]int64{}
	for _, id := range []string{"etl-a", "etl-b", "other"} {
		for {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode == 0 {
				pids[id] = resp.ProducerID
				break
			}
			// The first one creates __transaction_state.
			if ctx.Err() != nil {
				t.Fatalf("init %s: %v", id, kerr.ErrorForCode(resp.ErrorCode))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "etl-a", pids["etl-a"], 0
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	if r, err := add.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add: %+v, %v", r, err)
	}
	time.Sleep(20 * time.Millisecond) // etl-a has run for longer than 10 ms

	pinned := map[int16]*kgo.Client{}
	for v := int16(0); v <= 2; v++ {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(66, v)
		pcl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		defer pcl.Close()
		pinned[v] = pcl
	}
	list := func(version int16, states []string, producers []int64, duration int64, pattern *string) (string, int16) {
		t.Helper()
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = version
		req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis, req.TransactionalIDPattern = states, producers, duration, pattern
		// Pinned: kgo would otherwise negotiate the highest version.
		resp, err := req.RequestWith(ctx, pinned[version])
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID+":"+s.TransactionState)
		}
		sort.Strings(ids)
		return strings.Join(ids, ","), resp.ErrorCode
	}
	p := kmsg.StringPtr
	for _, tc := range []struct {
		name      string
		version   int16
		states    []string
		producers []int64
		duration  int64
		pattern   *string
		want      string
		code      int16
	}{
		{"v0 all", 0, nil, nil, -1, nil, "etl-a:Ongoing,etl-b:Empty,other:Empty", 0},
		{"v0 has no duration filter", 0, nil, nil, 0, nil, "etl-a:Ongoing,etl-b:Empty,other:Empty", 0},
		{"v1 has no pattern", 1, nil, nil, -1, p("etl-b"), "etl-a:Ongoing,etl-b:Empty,other:Empty", 0},
		{"v1 no duration", 1, nil, nil, -1, nil, "etl-a:Ongoing,etl-b:Empty,other:Empty", 0},
		{"v1 running at all", 1, nil, nil, 0, nil, "etl-a:Ongoing", 0},
		{"v1 running over 10ms", 1, nil, nil, 10, nil, "etl-a:Ongoing", 0},
		{"v1 running over an hour", 1, nil, nil, 3_600_000, nil, "", 0},
		{"v2 pattern", 2, nil, nil, -1, p("etl-.*"), "etl-a:Ongoing,etl-b:Empty", 0},
		{"v2 pattern matches whole ids", 2, nil, nil, -1, p("etl"), "", 0},
		{"v2 alternation", 2, nil, nil, -1, p("etl-b|oth.r"), "etl-b:Empty,other:Empty", 0},
		{"v2 empty pattern", 2, nil, nil, -1, p(""), "etl-a:Ongoing,etl-b:Empty,other:Empty", 0},
		{"v2 pattern and state", 2, []string{"Empty"}, nil, -1, p("etl-.*"), "etl-b:Empty", 0},
		{"v2 pattern and producer", 2, nil, []int64{pids["etl-a"], pids["other"]}, -1, p("etl-.*"), "etl-a:Ongoing", 0},
		{"v2 pattern and duration", 2, nil, nil, 0, p("etl-b"), "", 0},
		{"v2 bad pattern", 2, nil, nil, -1, p("etl-("), "", kerr.InvalidRegularExpression.Code},
	} {
		got, code := list(tc.version, tc.states, tc.producers, tc.duration, tc.pattern)
		if got != tc.want || code != tc.code {
			t.Errorf("%s: got [%s] code %d, want [%s] code %d", tc.name, got, code, tc.want, tc.code)
		}
	}
}
