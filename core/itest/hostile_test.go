package itest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hostileRSSBound is what the broker's peak resident memory (VmHWM) must
// stay under through every attack below. An idle broker takes ~40 MB; the
// attacks that used to cost gigabytes (2^31-1 partitions, a 512 MiB zstd
// bomb, nested gzip wrappers, a 20 MB Metadata request claiming millions
// of topics) must not add more than the 20 MB frame and small budgets.
const hostileRSSBound = 300 << 20

// hostileConnsPerIP is the broker's max.connections.per.ip in this suite.
const hostileConnsPerIP = 24

// TestHostileClients: every attack gets an error code or a closed
// connection, memory stays bounded, a normal client produces and consumes
// right after, and the broker restarts on the same data dir, also with a
// batch on disk (as an old version stored it) that lies about its record
// count in __consumer_offsets.
func TestHostileClients(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{
		"--max-connections-per-ip", strconv.Itoa(hostileConnsPerIP), "--offsets-topic-partitions", "2",
	}})
	adm := newAdmin(t, b)
	cl := newClient(t, b)

	t.Run("CreateTopics 2^31-1 partitions", func(t *testing.T) {
		for _, validateOnly := range []bool{true, false} {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.ValidateOnly = validateOnly
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "huge", math.MaxInt32, 1
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			wantErrCode(t, fmt.Sprintf("CreateTopics 2^31-1 partitions validate_only=%v", validateOnly), resp.Topics[0].ErrorCode, kerr.InvalidPartitions)
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "rf", 1, math.MaxInt16
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		wantErrCode(t, "CreateTopics replication factor 32767", resp.Topics[0].ErrorCode, kerr.InvalidReplicationFactor)
	})

	t.Run("bad topic names", func(t *testing.T) {
		for _, name := range []string{"", ".", "..", "a/b", "bad name", "ünï", strings.Repeat("x", 250), "../../etc"} {
			req := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			wantErrCode(t, fmt.Sprintf("CreateTopics %.20q", name), resp.Topics[0].ErrorCode, kerr.InvalidTopicException)
		}
		createTopic(ctx, t, adm, strings.Repeat("y", 249), 1, nil)
	})

	const topic = "victim"
	createTopic(ctx, t, adm, topic, 1, nil)

	t.Run("batch claiming 0x7fffffff records", func(t *testing.T) {
		batch := encodeBatch([]rawRecord{{Key: []byte("k"), Value: []byte("v"), Timestamp: time.Now().UnixMilli()}})
		lying := setBatchInt32(batch, 57, 0x7fffffff) // record count
		resp := rawProduce(ctx, t, cl, topic, 0, lying)
		wantErrCode(t, "count 0x7fffffff", resp.ErrorCode, kerr.InvalidRecord)
		lying = setBatchInt32(lying, 23, 0x7ffffffe) // and a matching last offset delta
		resp = rawProduce(ctx, t, cl, topic, 0, lying)
		wantErrCode(t, "count and last offset delta 0x7fffffff", resp.ErrorCode, kerr.CorruptMessage)
		if resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, topic+"-0") {
			t.Fatalf("error message %v does not name the partition", resp.ErrorMessage)
		}
		resp = rawProduce(ctx, t, cl, "__consumer_offsets", 0, lying)
		wantErrCode(t, "lying batch to __consumer_offsets", resp.ErrorCode, kerr.InvalidTopicException)
		if end := endOffsets(ctx, t, adm, topic)[0]; end != 0 {
			t.Fatalf("end offset %d after refused batches, want 0", end)
		}
	})

	t.Run("control batch from a client", func(t *testing.T) {
		batch := encodeBatch([]rawRecord{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}, Timestamp: time.Now().UnixMilli()}})
		binary.BigEndian.PutUint16(batch[21:], 0x20) // control
		resp := rawProduce(ctx, t, cl, topic, 0, reCRC(batch))
		wantErrCode(t, "control batch", resp.ErrorCode, kerr.InvalidRecord)
	})

	t.Run("zstd bomb", func(t *testing.T) {
		bomb := zstdBombBatch(t, 512<<20)
		t.Logf("zstd bomb: %d bytes inflating to 512 MiB", len(bomb))
		start := time.Now()
		resp := rawProduce(ctx, t, cl, topic, 0, bomb)
		wantErrCode(t, "zstd bomb", resp.ErrorCode, kerr.InvalidRecord)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("refusing the bomb took %v", took)
		}
		// A timestamp lookup has nothing of it to inflate.
		lo, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(-time.Hour).UnixMilli(), topic)
		if err != nil || lo[topic][0].Err != nil {
			t.Fatalf("ListOffsets by time: %v %v", err, lo[topic][0].Err)
		}
	})

	t.Run("nested gzip wrappers", func(t *testing.T) {
		set := nestedGzipSet(t, 4, 16<<20)
		t.Logf("four gzip wrappers: %d bytes inflating to 64 MiB", len(set))
		req := kmsg.NewPtrProduceRequest()
		req.Version = 2
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = set
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rc := dialRaw(t, b)
		rc.request(req, 9)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 2
		if err := resp.ReadFrom(rc.readResponse(9)); err != nil {
			t.Fatal(err)
		}
		wantErrCode(t, "four nested gzip wrappers", resp.Topics[0].Partitions[0].ErrorCode, kerr.CorruptMessage)
	})

	t.Run("Metadata claiming millions of topics", func(t *testing.T) {
		// 20 MB of real one-byte topic names behind a count of ~7M.
		const size = 20 << 20
		body := kbin.AppendInt16(nil, 3)
		body = kbin.AppendInt16(body, 4)
		body = kbin.AppendInt32(body, 1)
		body = kbin.AppendNullableString(body, nil)
		body = kbin.AppendInt32(body, (size-14)/3)
		body = append(body, bytes.Repeat([]byte{0, 1, 'x'}, (size-14)/3)...)
		body = append(body, 1) // allow auto-creation
		rc := dialRaw(t, b)
		rc.writeFrame(body)
		rc.expectClosed()
		// And a count with nothing behind it.
		body = append(body[:10], 0x00, 0x98, 0x96, 0x80, 0, 1, 'x') // 10,000,000
		rc = dialRaw(t, b)
		rc.writeFrame(body)
		rc.expectClosed()
		checkServing(t, b)
	})

	t.Run("tag count bomb", func(t *testing.T) {
		body := kbin.AppendInt16(nil, 12) // Heartbeat v4, flexible
		body = kbin.AppendInt16(body, 4)
		body = kbin.AppendInt32(body, 1)
		body = kbin.AppendNullableString(body, nil)
		body = append(body, 0)                  // header tags
		body = append(body, 2, 'g', 0, 0, 0, 1) // group "g", generation 1
		body = append(body, 2, 'm', 0)          // member "m", no instance id
		body = append(body, 0xff, 0xff, 0xff, 0xff, 0x0f)
		rc := dialRaw(t, b)
		rc.writeFrame(body)
		rc.expectClosed()
		checkServing(t, b)
	})

	t.Run("too many connections from one IP", func(t *testing.T) {
		var conns []*rawConn
		// The suite's clients hold a few; fill up to the limit.
		for range hostileConnsPerIP {
			conns = append(conns, dialRaw(t, b))
		}
		refused := 0
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
		for _, rc := range conns {
			// A refused connection may already be reset: write
			// errors count as refusals too.
			rc.conn.SetDeadline(time.Now().Add(rawIOTimeout))
			var size [4]byte
			if _, err := rc.conn.Write(frame); err != nil {
				refused++
			} else if _, err := rc.conn.Read(size[:]); err != nil {
				refused++
			}
		}
		if refused == 0 {
			t.Fatalf("%d connections from one IP (limit %d) were all served", len(conns), hostileConnsPerIP)
		}
		for _, rc := range conns {
			rc.conn.Close()
		}
		time.Sleep(200 * time.Millisecond) // let the broker see the closes
		checkServing(t, b)
	})

	checkRSS(t, b)
	produceAndConsume(ctx, t, b, "after-attacks")

	// Restart on the same data dir, with a lying batch planted in
	// __consumer_offsets the way an old version could have stored it.
	b.Kill()
	plantLyingBatch(t, filepath.Join(b.opts.DataDir, "__consumer_offsets-0"))
	b.Restart()
	produceAndConsume(ctx, t, b, "after-restart")
	checkRSS(t, b)
}

// checkRSS fails the test if the broker's peak RSS passed the bound.
func checkRSS(t *testing.T, b *broker) {
	t.Helper()
	pid := b.PID()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			t.Logf("broker peak RSS (VmHWM): %d MB", kb>>10)
			if kb<<10 > hostileRSSBound {
				t.Fatalf("broker peak RSS %d MB, bound %d MB", kb>>10, hostileRSSBound>>20)
			}
			return
		}
	}
	t.Fatal("no VmHWM in /proc status")
}

// produceAndConsume: a normal kgo client produces to a new topic and a
// consumer reads back exactly what it produced.
func produceAndConsume(ctx context.Context, t *testing.T, b *broker, topic string) {
	t.Helper()
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, topic, 2, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := range 100 {
		rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	produceSync(ctx, t, cl, rs...)
	got := 0
	for _, recs := range consumeAll(ctx, t, b, topic) {
		got += len(recs)
	}
	if got != 100 {
		t.Fatalf("consumed %d records, want 100", got)
	}
}

func setBatchInt32(batch []byte, pos int, v uint32) []byte {
	b := bytes.Clone(batch)
	binary.BigEndian.PutUint32(b[pos:], v)
	return reCRC(b)
}

func reCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[batchCRCPos:], crc32.Checksum(b[batchCRCFrom:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// zstdBombBatch is a v2 batch of one record whose value is size zero
// bytes, zstd-compressed (a few tens of KB), with a valid CRC.
func zstdBombBatch(t *testing.T, size int) []byte {
	t.Helper()
	// The record's fields before and after its value.
	var pre []byte
	bodyLen := 1 + 1 + 1 + 1 + varintLen(size) + size + 1
	pre = binary.AppendVarint(pre, int64(bodyLen))
	pre = append(pre, 0, 0, 0, 1) // attributes, ts delta 0, offset delta 0, key null (-1)
	pre = binary.AppendVarint(pre, int64(size))
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pre)
	zero := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(zero) {
		w.Write(zero[:min(left, len(zero))])
	}
	w.Write([]byte{0}) // no headers
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{Magic: 2, Attributes: 4, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: buf.Bytes()}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[batchLengthPos:], uint32(len(out)-12))
	return reCRC(out)
}

func varintLen(n int) int { return len(binary.AppendVarint(nil, int64(n))) }

// nestedGzipSet is a v1 message set of n gzip wrappers, each holding one
// message whose value is size zero bytes.
func nestedGzipSet(t *testing.T, n, size int) []byte {
	t.Helper()
	// The inner message: offset, size, crc, magic 1, attrs, ts, key -1,
	// value length, value. Its CRC covers magic..value: computed over
	// the zeros without holding them.
	ts := time.Now().UnixMilli()
	head := []byte{1, 0}
	head = binary.BigEndian.AppendUint64(head, uint64(ts))
	head = binary.BigEndian.AppendUint32(head, 0xffffffff) // null key
	head = binary.BigEndian.AppendUint32(head, uint32(size))
	crc := crc32.ChecksumIEEE(head)
	zero := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(zero) {
		crc = crc32.Update(crc, crc32.IEEETable, zero[:min(left, len(zero))])
	}
	var inner []byte
	inner = binary.BigEndian.AppendUint64(inner, 0)
	inner = binary.BigEndian.AppendUint32(inner, uint32(4+len(head)+size))
	inner = binary.BigEndian.AppendUint32(inner, crc)
	inner = append(inner, head...)
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(inner)
	for left := size; left > 0; left -= len(zero) {
		w.Write(zero[:min(left, len(zero))])
	}
	w.Close()
	wrapper := legacyMessageV1(0, 1, ts, gz.Bytes())
	var set []byte
	for i := range n {
		binary.BigEndian.PutUint64(wrapper, uint64(i))
		set = append(set, wrapper...)
	}
	return set
}

// legacyMessageV1 is one magic 1 message-set entry with a null key.
func legacyMessageV1(offset int64, attrs int8, ts int64, value []byte) []byte {
	m := kmsg.MessageV1{Offset: offset, MessageSize: int32(4 + 1 + 1 + 8 + 4 + 4 + len(value)), Magic: 1,
		Attributes: attrs, Timestamp: ts, Value: value}
	out := m.AppendTo(nil)
	binary.BigEndian.PutUint32(out[12:], crc32.ChecksumIEEE(out[16:]))
	return out
}

// plantLyingBatch appends to the partition's first segment a batch with
// a valid CRC claiming 0x7fffffff records (base offset: the log's end).
func plantLyingBatch(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "00000000000000000000.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var next int64
	for pos := 0; pos+12 <= len(data); {
		length := int(binary.BigEndian.Uint32(data[pos+8:]))
		next = int64(binary.BigEndian.Uint64(data[pos:])) + int64(binary.BigEndian.Uint32(data[pos+23:])) + 1
		pos += 12 + length
	}
	batch := encodeBatch([]rawRecord{{Key: []byte("k"), Value: []byte("v"), Timestamp: time.Now().UnixMilli()}})
	binary.BigEndian.PutUint64(batch, uint64(next))
	batch = setBatchInt32(batch, 57, 0x7fffffff)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(batch); err != nil {
		t.Fatal(err)
	}
}
