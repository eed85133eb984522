package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
)

// emitTo is a registry whose transform on "in" keeps nothing and emits
// every record to target.
type emitTo struct{ target string }

func (emitTo) Partitioner(string) hooks.Partitioner { return nil }
func (e emitTo) Transform(t string) hooks.Transform {
	if t != "in" {
		return nil
	}
	return e
}
func (emitTo) Filter(string) hooks.Filter { return nil }
func (e emitTo) Apply(_ context.Context, _ string, _ int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	var emits []hooks.Emit
	for _, r := range recs {
		emits = append(emits, hooks.Emit{Topic: e.target, Record: r})
	}
	return nil, emits, nil
}

// TestProduceEmitErrors: a produce whose transform emits somewhere it may
// not fails with POLICY_VIOLATION and a message naming the emit target;
// one whose emits land succeeds once they are stored.
func TestProduceEmitErrors(t *testing.T) {
	for _, tc := range []struct {
		target  string
		code    int16
		message string
	}{
		{"__consumer_offsets", kerr.PolicyViolation.Code, "in-0: transform emit to topic __consumer_offsets: transforms may not emit to internal topics"},
		{"elsewhere", 0, ""},
	} {
		addr := startServer(t, broker.Config{AutoCreateTopics: true}, Config{Hooks: emitTo{tc.target}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cl := mustClient(t, kgo.SeedBrokers(addr))
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "in"); err != nil {
			t.Fatal(err)
		}
		var err error
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewProduceRequestTopicPartition()
		if rp.Records, err = records.Encode([]records.Record{{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}}, records.Plain); err != nil {
			t.Fatal(err)
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := kresp.Topics[0].Partitions[0]
		msg := ""
		if p.ErrorMessage != nil {
			msg = *p.ErrorMessage
		}
		if p.ErrorCode != tc.code || !strings.Contains(msg, tc.message) {
			t.Fatalf("emit to %s: code %d message %q, want %d %q", tc.target, p.ErrorCode, msg, tc.code, tc.message)
		}
		if tc.code == 0 {
			ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
			if n != 1 {
				t.Fatalf("%s holds %d records, want 1", tc.target, n)
			}
		}
	}
}
