package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// dropFilter filters topic "f": records whose value starts with "drop"
// are hidden, the rest kept as they are.
type dropFilter struct{}

func (dropFilter) Partitioner(string) hooks.Partitioner { return nil }
func (dropFilter) Transform(string) hooks.Transform     { return nil }
func (d dropFilter) Filter(t string) hooks.Filter {
	if t != "f" {
		return nil
	}
	return d
}
func (dropFilter) Apply(_ context.Context, _ string, _ int32, _ hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	var out []hooks.Record
	for _, r := range recs {
		if !bytes.HasPrefix(r.Value, []byte("drop")) {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestFetchFilterKeepAllAndPartial: a fetch of a filtered topic where one
// partition's filter keeps every record (answered from the stored bytes,
// sendfile) and another's hides some (re-encoded), in the same response,
// repeatedly (the read buffers are reused between fetches), for a
// current client (kgo), a raw v12 fetch and a v3 client (down-converted
// message sets).
func TestFetchFilterKeepAllAndPartial(t *testing.T) {
	addr := startServer(t, broker.Config{}, Config{Hooks: dropFilter{}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := mustClient(t, kgo.SeedBrokers(addr))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "f"); err != nil {
		t.Fatal(err)
	}
	// Partition 0: three batches of 5, all kept. Partition 1: three
	// batches of 5, the first kept whole (the answer starts as the stored
	// bytes), in the others records 1 and 3 hidden.
	produced := map[int32][]string{}
	for b := 0; b < 3; b++ {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "f"
		for part := int32(0); part < 2; part++ {
			var recs []records.Record
			for i := 0; i < 5; i++ {
				v := fmt.Sprintf("p%d-b%d-r%d", part, b, i)
				if part == 1 && b > 0 && i%2 == 1 {
					v = "drop-" + v
				}
				recs = append(recs, records.Record{Value: []byte(v), Timestamp: time.Now().UnixMilli(),
					Headers: []records.Header{{Key: "h", Value: []byte(v)}}})
				produced[part] = append(produced[part], v)
			}
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = part
			var err error
			if rp.Records, err = records.Encode(recs, records.Plain); err != nil {
				t.Fatal(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("produce partition %d: code %d", p.Partition, p.ErrorCode)
			}
		}
	}
	// want: "value@offset" per partition, as a filtered reader sees them.
	want := map[int32]string{}
	for part, vals := range produced {
		var kept []string
		for off, v := range vals {
			if !bytes.HasPrefix([]byte(v), []byte("drop")) {
				kept = append(kept, fmt.Sprintf("%s@%d", v, off))
			}
		}
		want[part] = fmt.Sprint(kept)
	}
	if n := len(want[0]); n == 0 {
		t.Fatal("nothing produced")
	}

	// Old clients: Fetch v3 at most (Kafka 0.10.1), message sets.
	oldCl := mustClient(t, kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V0_10_1()))
	fetch := func(version int16) map[int32]string {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		var reqCl *kgo.Client = cl
		if version < 4 {
			reqCl = oldCl
		}
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "f"
		for part := int32(0); part < 2; part++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = part, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, reqCl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != version && !(version == 12 && resp.Version >= 4) {
			t.Fatalf("fetch answered as v%d, want v%d", resp.Version, version)
		}
		got := map[int32]string{}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("v%d fetch partition %d: code %d", version, p.Partition, p.ErrorCode)
			}
			var vals []string
			if version < 4 {
				vals = messageSetValues(t, p.RecordBatches)
			} else {
				batches, err := storage.SplitBatches(p.RecordBatches)
				if err != nil {
					t.Fatalf("v%d partition %d: %v", version, p.Partition, err)
				}
				for _, raw := range batches {
					d, err := records.Decode(raw)
					if err != nil {
						t.Fatalf("v%d partition %d: %v", version, p.Partition, err)
					}
					for _, r := range d.Records {
						if len(r.Headers) != 1 || string(r.Headers[0].Value) != string(r.Value) {
							t.Fatalf("v%d partition %d offset %d: headers %v, value %q", version, p.Partition, r.Offset, r.Headers, r.Value)
						}
						vals = append(vals, fmt.Sprintf("%s@%d", r.Value, r.Offset))
					}
				}
			}
			got[p.Partition] = fmt.Sprint(vals)
		}
		return got
	}
	for round := 0; round < 5; round++ {
		for _, v := range []int16{12, 3} {
			got := fetch(v)
			for part := int32(0); part < 2; part++ {
				if got[part] != want[part] {
					t.Fatalf("round %d v%d partition %d: got %s, want %s", round, v, part, got[part], want[part])
				}
			}
		}
	}

	// A kgo consumer sees the same.
	cons := mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumeTopics("f"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	for n := 0; n < 15+11; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], fmt.Sprintf("%s@%d", r.Value, r.Offset))
			n++
		})
	}
	for part := int32(0); part < 2; part++ {
		if fmt.Sprint(got[part]) != want[part] {
			t.Fatalf("kgo partition %d: got %v, want %s", part, got[part], want[part])
		}
	}
}

// messageSetValues reads an uncompressed magic 1 message set as
// "value@offset".
func messageSetValues(t *testing.T, b []byte) []string {
	t.Helper()
	var vals []string
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("message set: %d trailing bytes", len(b))
		}
		off := int64(binary.BigEndian.Uint64(b))
		size := int(binary.BigEndian.Uint32(b[8:]))
		msg := b[12 : 12+size]
		b = b[12+size:]
		// crc, magic, attributes, timestamp, then key and value.
		if msg[4] != 1 {
			t.Fatalf("message magic %d, want 1", msg[4])
		}
		rest := msg[4+1+1+8:]
		klen := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4+max(klen, 0):]
		vlen := int32(binary.BigEndian.Uint32(rest))
		vals = append(vals, fmt.Sprintf("%s@%d", rest[4:4+vlen], off))
	}
	return vals
}
