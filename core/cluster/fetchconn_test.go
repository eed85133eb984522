package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// replicaFetchReq is a one-partition replica fetch of topic t at offset.
func replicaFetchReq(offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, 5, 100, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestReplicaConnSASL: the fetcher's own connection authenticates with the
// client's SASL mechanism (a leader requiring SASL/PLAIN), reads every
// fetched record batch byte for byte, and reuses one frame buffer across
// fetches; after the connection drops it dials and authenticates again.
func TestReplicaConnSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.Superuser("PLAIN", "broker", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(plain.Auth{User: "broker", Pass: "secret"}.AsMechanism())}
	prod, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("t"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte('a' + i)}, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rc := newReplicaConn(cl, 0, "sluice-replica-5")
	defer rc.close()

	var frame *byte
	for round := range 3 {
		if round == 2 {
			rc.close() // a dropped connection: the next fetch dials and authenticates again
		}
		resp, err := rc.fetch(ctx, replicaFetchReq(0))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("round %d: answer %+v, want one partition", round, resp.Topics)
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 || rp.HighWatermark != 3 {
			t.Fatalf("round %d: error code %d, high watermark %d; want 0, 3", round, rp.ErrorCode, rp.HighWatermark)
		}
		var values []string
		batches, err := storage.SplitBatches(rp.RecordBatches)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if _, err := storage.ValidateBatch(b); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			dec, err := records.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range dec.Records {
				values = append(values, string(r.Value))
			}
		}
		want := []string{strings.Repeat("a", 1000), strings.Repeat("b", 1000), strings.Repeat("c", 1000)}
		if len(values) != 3 || values[0] != want[0] || values[1] != want[1] || values[2] != want[2] {
			t.Fatalf("round %d: %d values fetched, want the 3 produced", round, len(values))
		}
		if round == 0 {
			frame = &rc.frame[0]
		} else if &rc.frame[0] != frame {
			t.Fatalf("round %d: a new frame buffer; want the first one reused", round)
		}
	}
}

// TestReplicaConnFrameBound: an answer whose length field is past the
// bound is refused before anything is allocated for it, and the connection
// is dropped.
func TestReplicaConnFrameBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return
		}
		conn.Write(binary.BigEndian.AppendUint32(nil, replicaFrameMax+1))
		time.Sleep(time.Second)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rc := newReplicaConn(cl, 0, "sluice-replica-5")
	rc.conn, rc.r = conn, bufio.NewReader(conn)
	_, err = rc.exchange(replicaFetchReq(0), replicaFrameMax)
	if err == nil || !strings.Contains(err.Error(), "bound") {
		t.Fatalf("exchange: %v, want the frame refused for its size", err)
	}
	if rc.conn != nil || rc.frame != nil {
		t.Fatal("the connection was kept, or a buffer allocated, after an oversized frame")
	}
}
