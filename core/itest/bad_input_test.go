package itest

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestBadFrames: requests the broker cannot parse, or refuses to buffer,
// cost the sender its connection and nothing else.
func TestBadFrames(t *testing.T) {
	t.Parallel()
	b := startBroker(t, brokerOptions{})

	t.Run("garbage body", func(t *testing.T) {
		// Api key -1, version -1, ...: no such request.
		rc := dialRaw(t, b)
		rc.writeFrame(bytes.Repeat([]byte{0xff}, 32))
		rc.expectClosed()
		checkServing(t, b)
	})
	t.Run("header cut short", func(t *testing.T) {
		// A frame too short to hold even the api key, version and
		// correlation id.
		rc := dialRaw(t, b)
		rc.writeFrame([]byte{0, 3, 0})
		rc.expectClosed()
		checkServing(t, b)
	})
	t.Run("metadata body garbage", func(t *testing.T) {
		// A well-formed Metadata v12 header followed by a topics array
		// whose length runs past the end of the frame.
		body := binary.BigEndian.AppendUint16(nil, 3)  // Metadata
		body = binary.BigEndian.AppendUint16(body, 12) // flexible version
		body = binary.BigEndian.AppendUint32(body, 7)  // correlation id
		body = binary.BigEndian.AppendUint16(body, 0)  // client id ""
		body = append(body, 0)                         // no header tags
		body = append(body, 0xff, 0xff, 0xff, 0x7f)    // topics: ~268M entries
		body = append(body, 1, 2, 3)
		rc := dialRaw(t, b)
		rc.writeFrame(body)
		rc.expectClosed()
		checkServing(t, b)
	})
	t.Run("size over 100 MiB", func(t *testing.T) {
		// Only the size goes out: a broker that waited for (or allocated)
		// the body would leave the connection open.
		rc := dialRaw(t, b)
		rc.write(binary.BigEndian.AppendUint32(nil, 200<<20))
		rc.expectClosed()
		checkServing(t, b)
	})
	t.Run("negative size", func(t *testing.T) {
		rc := dialRaw(t, b)
		rc.write([]byte{0xff, 0xff, 0xff, 0xfe})
		rc.expectClosed()
		checkServing(t, b)
	})
}

// TestApiVersionsUnknownVersion: an ApiVersions version newer than the
// broker's is answered, not dropped: a v0-shaped response with
// UNSUPPORTED_VERSION and the broker's ranges, on a connection that stays
// usable for the client's retry at a version both speak.
func TestApiVersionsUnknownVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t, brokerOptions{})
	rc := dialRaw(t, b)

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 99
	req.ClientSoftwareName = "sluice-itest"
	req.ClientSoftwareVersion = "1.0.0"
	rc.request(req, 99)
	body := rc.readResponse(99)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode as ApiVersions v0: %v", err)
	}
	wantErrCode(t, "ApiVersions v99", resp.ErrorCode, kerr.UnsupportedVersion)
	// v0 is error code, then [key, min, max] and nothing else.
	if want := 2 + 4 + 6*len(resp.ApiKeys); len(body) != want {
		t.Fatalf("ApiVersions v99 response body is %d bytes, want %d (v0 shape with %d keys)", len(body), want, len(resp.ApiKeys))
	}
	keys := make(map[int16]kmsg.ApiVersionsResponseApiKey)
	for _, k := range resp.ApiKeys {
		keys[k.ApiKey] = k
	}
	if av, ok := keys[18]; !ok || av.MinVersion != 0 || av.MaxVersion < 3 {
		t.Fatalf("ApiVersions range for ApiVersions = %+v (present %v), want 0..>=3", av, ok)
	}
	// Kafka lists just ApiVersions' own range here (enough to retry);
	// listing every key is allowed too, but it must be there.

	// The client's retry with v0 on the same connection succeeds and
	// lists every key.
	retry := rc.apiVersions(0, 100)
	wantErrCode(t, "ApiVersions v0 retry", retry.ErrorCode, nil)
	retryKeys := make(map[int16]kmsg.ApiVersionsResponseApiKey)
	for _, k := range retry.ApiKeys {
		retryKeys[k.ApiKey] = k
	}
	for _, key := range []int16{0, 1, 2, 3, 18} { // Produce, Fetch, ListOffsets, Metadata, ApiVersions
		if _, ok := retryKeys[key]; !ok {
			t.Fatalf("ApiVersions v0 response lacks api key %d", key)
		}
	}
	if r, k := retryKeys[18], keys[18]; r.MinVersion != k.MinVersion || r.MaxVersion != k.MaxVersion {
		t.Fatalf("ApiVersions range %+v in the v0 answer, %+v in the UNSUPPORTED_VERSION answer", retryKeys[18], keys[18])
	}
}

// TestProduceRejects: batches the broker must refuse leave the log as it was.
func TestProduceRejects(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	cl := newClient(t, b)

	t.Run("corrupt CRC", func(t *testing.T) {
		const topic = "corrupt-crc"
		createTopic(ctx, t, adm, topic, 1, nil)
		batch := encodeBatch([]rawRecord{
			{Key: []byte("k0"), Value: []byte("v0"), Timestamp: time.Now().UnixMilli()},
			{Key: []byte("k1"), Value: []byte("v1"), Timestamp: time.Now().UnixMilli()},
		})
		corrupt := bytes.Clone(batch)
		corrupt[len(corrupt)-1] ^= 0xff // last byte of the last record's value
		resp := rawProduce(ctx, t, cl, topic, 0, corrupt)
		wantErrCode(t, "produce with a wrong CRC", resp.ErrorCode, kerr.CorruptMessage)
		if end := endOffsets(ctx, t, adm, topic)[0]; end != 0 {
			t.Fatalf("end offset after a corrupt batch = %d, want 0", end)
		}
		// The intact batch still goes in, at offset 0.
		resp = rawProduce(ctx, t, cl, topic, 0, batch)
		wantErrCode(t, "produce the intact batch", resp.ErrorCode, nil)
		if resp.BaseOffset != 0 {
			t.Fatalf("intact batch base offset %d, want 0", resp.BaseOffset)
		}
	})

	t.Run("over max.message.bytes", func(t *testing.T) {
		const topic = "max-message-bytes"
		createTopic(ctx, t, adm, topic, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("1000")})
		big := encodeBatch([]rawRecord{{Value: bytes.Repeat([]byte("x"), 5000), Timestamp: time.Now().UnixMilli()}})
		resp := rawProduce(ctx, t, cl, topic, 0, big)
		wantErrCode(t, "produce 5000 bytes over max.message.bytes=1000", resp.ErrorCode, kerr.MessageTooLarge)
		if end := endOffsets(ctx, t, adm, topic)[0]; end != 0 {
			t.Fatalf("end offset after a too-large batch = %d, want 0", end)
		}
		small := encodeBatch([]rawRecord{{Value: bytes.Repeat([]byte("x"), 500), Timestamp: time.Now().UnixMilli()}})
		resp = rawProduce(ctx, t, cl, topic, 0, small)
		wantErrCode(t, "produce 500 bytes under max.message.bytes=1000", resp.ErrorCode, nil)
		if resp.BaseOffset != 0 {
			t.Fatalf("small batch base offset %d, want 0", resp.BaseOffset)
		}
	})
}

// TestUnknownTopicNoAutoCreate: with auto-creation off, producing to and
// asking Metadata about a missing topic both answer
// UNKNOWN_TOPIC_OR_PARTITION, and the topic stays missing.
func TestUnknownTopicNoAutoCreate(t *testing.T) {
	t.Parallel()
	const topic = "no-such-topic"
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{DisableAutoCreate: true})
	// Produce v13 names topics only by ID; up to Kafka 3.9's versions a
	// produce names the topic, which is what an unknown topic needs.
	cl := newClient(t, b, kgo.MaxVersions(kversion.V3_9_0()))

	metadata := func() int16 {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true // the broker setting wins
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != topic {
			t.Fatalf("metadata answered %d topics, want just %s", len(resp.Topics), topic)
		}
		if n := len(resp.Topics[0].Partitions); n != 0 {
			t.Fatalf("metadata lists %d partitions of a missing topic", n)
		}
		return resp.Topics[0].ErrorCode
	}
	wantErrCode(t, "metadata for a missing topic", metadata(), kerr.UnknownTopicOrPartition)

	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = encodeBatch([]rawRecord{{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v, want one partition of %s", resp.Topics, topic)
	}
	wantErrCode(t, "produce to a missing topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)

	// A real producer gives up on the record with the same error.
	producer := newClient(t, b, kgo.UnknownTopicRetries(1))
	prodCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = producer.ProduceSync(prodCtx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	wantKerr(t, "kgo produce to a missing topic", err, kerr.UnknownTopicOrPartition)

	wantErrCode(t, "metadata for a missing topic after producing", metadata(), kerr.UnknownTopicOrPartition)
}
