package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Byte positions in a v2 record batch.
const (
	batchLengthPos = 8  // int32 Length, after the 8-byte base offset
	batchLastDelta = 23 // int32 LastOffsetDelta
	batchCRCPos    = 17 // uint32 CRC-32C over everything after it
	batchCRCFrom   = 21 // first byte the CRC covers (Attributes)
	batchCountPos  = 57 // int32 NumRecords
)

// rawIOTimeout bounds each read/write on a hostile connection: the broker
// must answer or close well within it.
const rawIOTimeout = 15 * time.Second

// errAccepted: the broker did what a hostile request asked.
var errAccepted = errors.New("hostile request accepted")

// hostiles builds and sends the attacks of core/itest/hostile_test.go
// (the soak cannot import test files). Large payloads are built once.
type hostiles struct {
	addr      string
	floodFrom string // source IP of the connection flood, not the clients' one
	perIP     int    // the broker's max.connections.per.ip
	topic     string // victim topic: must stay empty
	cl        *kgo.Client
	rng       *rand.Rand

	zstdBomb  []byte
	gzipNest  []byte
	metaBig   []byte
	metaEmpty []byte
}

type attack struct {
	name string
	run  func(context.Context) error
}

func newHostiles(addr, topic string, perIP int, rng *rand.Rand) (*hostiles, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("soak-hostile"), kgo.RequestRetries(2))
	if err != nil {
		return nil, err
	}
	h := &hostiles{addr: addr, floodFrom: "127.0.0.2", perIP: perIP, topic: topic, cl: cl, rng: rng}
	if h.zstdBomb, err = zstdBombBatch(512 << 20); err != nil {
		return nil, err
	}
	h.gzipNest = nestedGzipSet(4, 16<<20)
	h.metaBig, h.metaEmpty = metadataBombs(4 << 20)
	return h, nil
}

func (h *hostiles) close() { h.cl.Close() }

func (h *hostiles) attacks() []attack {
	return []attack{
		{"garbage frame", h.garbage},
		{"unknown api key", h.unknownAPI},
		{"oversized frame size", func(context.Context) error { return h.sizeOnly(math.MaxInt32) }},
		{"negative frame size", func(context.Context) error { return h.sizeOnly(0xffffffff) }},
		{"lying batch count", h.lyingBatch},
		{"zstd bomb", func(ctx context.Context) error {
			return h.produceExpect(ctx, h.zstdBomb, kerr.InvalidRecord, kerr.CorruptMessage)
		}},
		{"nested gzip wrappers", h.nestedGzip},
		{"metadata claiming millions of topics", func(context.Context) error { return h.expectClosed(h.metaBig) }},
		{"metadata count with nothing behind it", func(context.Context) error { return h.expectClosed(h.metaEmpty) }},
		{"tag count bomb", func(context.Context) error { return h.expectClosed(tagBomb()) }},
		{"createtopics 2^31-1 partitions", h.hugeCreate},
		{"too many connections from one IP", h.connFlood},
	}
}

func (h *hostiles) dial(local string) (net.Conn, error) {
	d := net.Dialer{Timeout: rawIOTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(rawIOTimeout))
	return c, nil
}

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// expectClosed writes a frame and requires the broker to close the
// connection without answering.
func (h *hostiles) expectClosed(body []byte) error {
	c, err := h.dial("")
	if err != nil {
		return err
	}
	defer c.Close()
	// A broker closing early may reset the write: that is a refusal too.
	if _, err := c.Write(frame(body)); err != nil {
		return nil
	}
	return readClosed(c)
}

func readClosed(c net.Conn) error {
	var buf [4]byte
	_, err := io.ReadFull(c, buf[:])
	if err == nil {
		return fmt.Errorf("%w: got a response", errAccepted)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection neither answered nor closed in %v", rawIOTimeout)
	}
	return nil
}

// garbage is a Produce v9 header followed by random bytes: the broker
// answers with an error or closes; it must not crash or hang.
func (h *hostiles) garbage(context.Context) error {
	body := kbin.AppendInt16(nil, 0)
	body = kbin.AppendInt16(body, 9)
	body = kbin.AppendInt32(body, 7)
	junk := make([]byte, 16+h.rng.IntN(8192))
	for i := range junk {
		junk[i] = byte(h.rng.Uint32())
	}
	body = append(body, junk...)
	c, err := h.dial("")
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(frame(body)); err != nil {
		return nil
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("garbage neither answered nor closed in %v", rawIOTimeout)
		}
	}
	return nil
}

func (h *hostiles) unknownAPI(context.Context) error {
	body := kbin.AppendInt16(nil, 0x7fff)
	body = kbin.AppendInt16(body, 0)
	body = kbin.AppendInt32(body, 1)
	body = kbin.AppendNullableString(body, nil)
	return h.expectClosed(body)
}

// sizeOnly sends a frame size and a few bytes: the broker must close
// rather than allocate size bytes or wait for them.
func (h *hostiles) sizeOnly(size uint32) error {
	c, err := h.dial("")
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(binary.BigEndian.AppendUint32(nil, size)); err != nil {
		return nil
	}
	if _, err := c.Write([]byte{0, 3, 0, 1, 0, 0, 0, 1}); err != nil {
		return nil
	}
	return readClosed(c)
}

func (h *hostiles) produce(ctx context.Context, records []byte, version int16) (kmsg.ProduceResponseTopicPartition, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = h.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, h.cl)
	if err != nil {
		return kmsg.ProduceResponseTopicPartition{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.ProduceResponseTopicPartition{}, fmt.Errorf("produce response has %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0], nil
}

// produceExpect: the batch must be refused with one of want (a closed
// connection, seen by kgo as an error, counts as a refusal too).
func (h *hostiles) produceExpect(ctx context.Context, records []byte, want ...*kerr.Error) error {
	rp, err := h.produce(ctx, records, 9)
	if err != nil {
		return nil
	}
	for _, w := range want {
		if rp.ErrorCode == w.Code {
			return nil
		}
	}
	if rp.ErrorCode == 0 {
		return fmt.Errorf("%w: stored at offset %d", errAccepted, rp.BaseOffset)
	}
	return fmt.Errorf("unexpected error code %v", kerr.ErrorForCode(rp.ErrorCode))
}

func (h *hostiles) lyingBatch(ctx context.Context) error {
	batch := oneRecordBatch()
	lying := setBatchInt32(batch, batchCountPos, 0x7fffffff)
	if err := h.produceExpect(ctx, lying, kerr.InvalidRecord, kerr.CorruptMessage); err != nil {
		return fmt.Errorf("count only: %w", err)
	}
	lying = setBatchInt32(lying, batchLastDelta, 0x7ffffffe)
	return h.produceExpect(ctx, lying, kerr.InvalidRecord, kerr.CorruptMessage)
}

func (h *hostiles) nestedGzip(ctx context.Context) error {
	rp, err := h.produce(ctx, h.gzipNest, 2)
	if err != nil {
		return nil
	}
	if rp.ErrorCode == 0 {
		return fmt.Errorf("%w: stored at offset %d", errAccepted, rp.BaseOffset)
	}
	return nil
}

func (h *hostiles) hugeCreate(ctx context.Context) error {
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.ValidateOnly = validateOnly
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "soak-huge", math.MaxInt32, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, h.cl)
		if err != nil {
			return nil
		}
		if c := resp.Topics[0].ErrorCode; c != kerr.InvalidPartitions.Code {
			return fmt.Errorf("validate_only=%v: error code %v, want INVALID_PARTITIONS", validateOnly, kerr.ErrorForCode(c))
		}
	}
	return nil
}

// connFlood opens perIP+16 connections from floodFrom (so the soak's own
// clients on 127.0.0.1 keep their quota) and requires some to be refused.
func (h *hostiles) connFlood(context.Context) error {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	req := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	for range h.perIP + 16 {
		c, err := h.dial(h.floodFrom)
		if err != nil {
			refused++
			continue
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		var size [4]byte
		if _, err := c.Write(req); err != nil {
			refused++
		} else if _, err := io.ReadFull(c, size[:]); err != nil {
			refused++
		}
	}
	if refused < 16 {
		return fmt.Errorf("%w: %d of %d connections from one IP (limit %d) refused", errAccepted, refused, h.perIP+16, h.perIP)
	}
	return nil
}

// --- builders ---

func reCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[batchCRCPos:], crc32.Checksum(b[batchCRCFrom:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func setBatchInt32(batch []byte, pos int, v uint32) []byte {
	b := bytes.Clone(batch)
	binary.BigEndian.PutUint32(b[pos:], v)
	return reCRC(b)
}

// encodeRecord is one v2 record with offset delta 0 and no headers.
func encodeRecord(key, value []byte) []byte {
	var body []byte
	body = append(body, 0)              // attributes
	body = binary.AppendVarint(body, 0) // timestamp delta
	body = binary.AppendVarint(body, 0) // offset delta
	body = binary.AppendVarint(body, int64(len(key)))
	body = append(body, key...)
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // headers
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func finishBatch(rb kmsg.RecordBatch) []byte {
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[batchLengthPos:], uint32(len(out)-12))
	return reCRC(out)
}

func oneRecordBatch() []byte {
	ts := time.Now().UnixMilli()
	return finishBatch(kmsg.RecordBatch{Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		Records: encodeRecord([]byte("k"), []byte("v"))})
}

// zstdBombBatch is a v2 batch of one record whose value is size zero
// bytes, zstd-compressed to a few tens of KB, with a valid CRC.
func zstdBombBatch(size int) ([]byte, error) {
	var pre []byte
	bodyLen := 1 + 1 + 1 + 1 + len(binary.AppendVarint(nil, int64(size))) + size + 1
	pre = binary.AppendVarint(pre, int64(bodyLen))
	pre = append(pre, 0, 0, 0, 1) // attributes, ts delta, offset delta, null key
	pre = binary.AppendVarint(pre, int64(size))
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	w.Write(pre)
	zero := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(zero) {
		w.Write(zero[:min(left, len(zero))])
	}
	w.Write([]byte{0}) // no headers
	if err := w.Close(); err != nil {
		return nil, err
	}
	ts := time.Now().UnixMilli()
	return finishBatch(kmsg.RecordBatch{Magic: 2, Attributes: 4, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: buf.Bytes()}), nil
}

// nestedGzipSet is a v1 message set of n gzip wrappers, each inflating to
// one message of size zero bytes: together n*size, each under a
// per-wrapper cap.
func nestedGzipSet(n, size int) []byte {
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
	m := kmsg.MessageV1{Magic: 1, Attributes: 1, Timestamp: ts, Value: gz.Bytes()}
	m.MessageSize = int32(4 + 1 + 1 + 8 + 4 + 4 + len(m.Value))
	wrapper := m.AppendTo(nil)
	binary.BigEndian.PutUint32(wrapper[12:], crc32.ChecksumIEEE(wrapper[16:]))
	var set []byte
	for i := range n {
		binary.BigEndian.PutUint64(wrapper, uint64(i))
		set = append(set, wrapper...)
	}
	return set
}

// metadataBombs: a Metadata v4 request of size bytes of real one-byte
// topic names behind a count of about size/3, and one whose count of ten
// million has a single name behind it.
func metadataBombs(size int) (big, empty []byte) {
	head := kbin.AppendInt16(nil, 3)
	head = kbin.AppendInt16(head, 4)
	head = kbin.AppendInt32(head, 1)
	head = kbin.AppendNullableString(head, nil)
	n := (size - 14) / 3
	big = kbin.AppendInt32(bytes.Clone(head), int32(n))
	big = append(big, bytes.Repeat([]byte{0, 1, 'x'}, n)...)
	big = append(big, 1) // allow auto-creation
	empty = kbin.AppendInt32(bytes.Clone(head), 10_000_000)
	empty = append(empty, 0, 1, 'x', 1)
	return big, empty
}

// tagBomb is a flexible Heartbeat whose tagged-field count is ~2^32.
func tagBomb() []byte {
	body := kbin.AppendInt16(nil, 12)
	body = kbin.AppendInt16(body, 4)
	body = kbin.AppendInt32(body, 1)
	body = kbin.AppendNullableString(body, nil)
	body = append(body, 0)
	body = append(body, 2, 'g', 0, 0, 0, 1)
	body = append(body, 2, 'm', 0)
	return append(body, 0xff, 0xff, 0xff, 0xff, 0x0f)
}
