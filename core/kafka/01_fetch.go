package kafka

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/msgset"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/core/storage"
)

// Fetch: versions 0–12. v4+ get record batches as stored; v0–v3 (Kafka
// 0.9/0.10 clients) get them down-converted to message sets (magic 0 for
// v0/v1, magic 1 for v2/v3), headers dropped. v13+ address topics by id
// and are not advertised yet. Fetch sessions (v7+, KIP-227) are served by
// fetchsession.go: begin resolves an incremental fetch to the session's
// partitions, finish trims its final response. Data is sent
// from segment files with sendfile (see sendfile.go). Long polling waits
// up to MaxWaitMillis for MinBytes of committed data. isolation_level=1
// (read_committed, v4+) reads stop at the last stable offset and carry
// the aborted transactions of the range read (from the segments'
// .txnindex), still by sendfile; every version that has LastStableOffset
// gets the partition's.
func init() { register(1, 0, 12, (*conn).handleFetch) }

// fetchResult is one attempt at answering a fetch.
type fetchResult struct {
	resp   *kmsg.FetchResponse
	chunks []storage.Chunk
	bytes  int
	// waits are the partitions' "high watermark advanced" channels,
	// taken before reading so no advance between read and wait is missed.
	waits []<-chan struct{}
	// errored: some partition has an error the client must see now.
	errored bool
}

func (f *fetchResult) release() {
	for i := range f.chunks {
		f.chunks[i].Release()
	}
	f.chunks = nil
}

func (c *conn) handleFetch(h *header, req *kmsg.FetchRequest) *reply {
	if req.ReplicaID >= 0 && !c.isBroker() {
		// Only brokers replicate: a replica fetch moves the high
		// watermark and bypasses consume filters.
		return c.ready(h, fetchRefused(req, kerr.ClusterAuthorizationFailed.Code))
	}
	req, sess, refused := c.s.fetchSessions.begin(req)
	if refused != nil {
		return c.ready(h, refused)
	}
	res := c.sessionFetchOnce(sess, req, h.clientID)
	if res.bytes >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || res.errored || len(res.waits) == 0 {
		sess.finish(res.resp)
		return &reply{corr: h.correlationID, resp: res.resp, chunks: res.chunks}
	}
	res.release()
	r := &reply{corr: h.correlationID, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		final := c.fetchWait(sess, req, h.clientID, res.waits)
		sess.finish(final.resp)
		r.resp, r.chunks = final.resp, final.chunks
	}()
	return r
}

// fetchWait long-polls: it re-reads whenever a requested partition's high
// watermark advances, until MinBytes are available, MaxWaitMillis passes
// or the connection closes.
func (c *conn) fetchWait(sess *fetchSessionCtx, req *kmsg.FetchRequest, clientID string, waits []<-chan struct{}) fetchResult {
	timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(waits)+2)
	for {
		cases = cases[:0]
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.ctx.Done())})
		for _, w := range waits {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		chosen, _, _ := reflect.Select(cases)
		res := c.sessionFetchOnce(sess, req, clientID)
		if chosen < 2 || res.bytes >= int(req.MinBytes) || res.errored {
			return res
		}
		res.release()
		waits = res.waits
	}
}

// fetchOnce reads every requested partition once.
func (c *conn) fetchOnce(req *kmsg.FetchRequest, clientID string) fetchResult {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	var res fetchResult
	res.resp = resp
	remaining := int(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = 1<<31 - 1
	}
	var reader *hooks.Reader
	var jobs []fetchJob
	// read_committed (v4+): consumers read up to the last stable offset
	// and get the aborted transactions of what they read.
	committed := req.IsolationLevel == 1
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		// Followers copy the log as stored; the in-process bridge
		// filters per HTTP principal itself.
		filter := req.ReplicaID < 0 && !c.trusted && c.s.cfg.Pipeline.Filtering(rt.Topic)
		if filter && reader == nil {
			// Filters key on the authenticated principal; the client id
			// is the client's own claim, never an identity.
			reader = &hooks.Reader{ClientID: clientID, GroupID: c.s.b.Groups().GroupOf(clientID, clientHost(c.nc)), Principal: string(c.principal)}
		}
		// Consumers need Read on the topic (followers were checked
		// for ClusterAction in handleFetch).
		readable := req.ReplicaID >= 0 || c.mayTopic(auth.OpRead, rt.Topic)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rp.Partition
			sp.RecordBatches = []byte{}
			if !readable {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				res.errored = true
				continue
			}
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				res.errored = true
				continue
			}
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch()); code != 0 {
				sp.ErrorCode = code
				res.errored = true
				continue
			}
			limit := min(int(rp.PartitionMaxBytes), remaining)
			if limit <= 0 && res.bytes > 0 {
				// Over the response limit: report offsets, no data.
				res.waits = append(res.waits, p.Wait())
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.HighWatermark(), p.LastStableOffset(), p.LogStartOffset()
				continue
			}
			var rr partition.ReadResult
			if req.ReplicaID >= 0 {
				// A follower replicating: it reads up to our log end
				// and waits for appends, not for the high watermark.
				var wait <-chan struct{}
				throttled := c.throttleReplicaLimit(rt.Topic, p, req.ReplicaID, &limit) // replication_throttle.go
				rr, wait, err = p.ReplicaFetch(req.ReplicaID, rp.FetchOffset, max(limit, 1))
				c.chargeReplicaRead(throttled, &rr)
				if wait != nil {
					res.waits = append(res.waits, wait)
				}
			} else {
				res.waits = append(res.waits, p.Wait())
				rr, err = p.ReadIsolated(rp.FetchOffset, max(limit, 1), committed)
			}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
			if len(rr.Aborted) > 0 {
				sp.AbortedTransactions = abortedTransactions(rr.Aborted)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				res.errored = true
				continue
			}
			if rr.Chunk.Size > 0 && (filter || req.Version < 4) {
				// Topics with a consume filter and old clients leave the
				// sendfile path: read, filtered and converted below,
				// partitions in parallel. The budget counts the data as
				// stored (filters only shrink it).
				jobs = append(jobs, fetchJob{sp: sp, topic: rt.Topic, part: rp.Partition, filter: filter, chunk: rr.Chunk, size: rr.Chunk.Size, aborted: rr.Aborted})
				res.bytes += rr.Chunk.Size
				remaining -= rr.Chunk.Size
			} else if rr.Chunk.Size > 0 {
				sp.RecordBatches = sentinel(len(res.chunks))
				res.chunks = append(res.chunks, rr.Chunk)
				res.bytes += rr.Chunk.Size
				remaining -= rr.Chunk.Size
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.runFetchJobs(req.Version, reader, jobs, &res)
	return res
}

// fetchJob is one partition's data leaving the sendfile path: run through
// the topic's consume filter and/or down-converted for an old client.
type fetchJob struct {
	sp     *kmsg.FetchResponseTopicPartition
	topic  string
	part   int32
	filter bool
	// chunk is the partition's read, read into data by fetchJobData and
	// held until the filter has answered (v4+ filtered fetches) so that
	// a keep-all answer goes out with sendfile; released otherwise.
	chunk storage.Chunk
	size  int // chunk.Size, counted in the response's bytes
	data  []byte
	// keptAll: the filter answered data itself (fetchJobData).
	keptAll bool
	// aborted: a read_committed read's aborted transactions. Their
	// batches are dropped here, before the filter: a filter's answer
	// need not keep the batch attributes a client would drop them by.
	aborted []storage.AbortedTxn
}

// runFetchJobs filters and converts every job, partitions in parallel (a
// plugin filter costs CPU per record, and one consumer connection would
// otherwise filter its partitions one after another on one core while
// the client waits), then sets their answers and corrects res.bytes for
// what the filters removed.
func (c *conn) runFetchJobs(version int16, reader *hooks.Reader, jobs []fetchJob, res *fetchResult) {
	if len(jobs) == 0 {
		return
	}
	errs := make([]error, len(jobs))
	out := make([][]byte, len(jobs))
	run := func(i int) { out[i], errs[i] = c.fetchJobData(version, reader, &jobs[i]) }
	if slices.ContainsFunc(jobs, func(j fetchJob) bool { return j.filter }) {
		parallel(len(jobs), run)
	} else {
		for i := range jobs { // down-conversion alone is cheap
			run(i)
		}
	}
	for i := range jobs {
		j := &jobs[i]
		res.bytes -= j.size
		if errs[i] != nil {
			j.chunk.Release()
			j.sp.ErrorCode = errorCode(errs[i])
			res.errored = true
			continue
		}
		if j.keptAll && j.chunk.Size == len(j.data) {
			// Nothing filtered out or rewritten: the stored bytes go
			// out with sendfile and the read buffer is reused now.
			j.sp.RecordBatches = sentinel(len(res.chunks))
			res.chunks = append(res.chunks, j.chunk)
			putFetchBuf(j.data)
			res.bytes += j.chunk.Size
			continue
		}
		j.chunk.Release()
		j.sp.RecordBatches = out[i]
		res.bytes += len(out[i])
	}
}

// putFetchBuf returns a read buffer to fetchBufs (larger ones are left
// to the GC).
func putFetchBuf(b []byte) {
	if cap(b) <= keepFetchBuf {
		b = b[:0]
		fetchBufs.Put(&b)
	}
}

// fetchBufs holds the read buffers of filtered fetches (see fetchOnce).
var fetchBufs = sync.Pool{New: func() any { return new([]byte) }}

// keepFetchBuf: larger read buffers are left to the GC.
const keepFetchBuf = 8 << 20

func (c *conn) fetchJobData(version int16, reader *hooks.Reader, j *fetchJob) ([]byte, error) {
	var err error
	if j.filter {
		// Filtering copies what it keeps into a new buffer (or sends the
		// chunk), so the read can use a pooled one.
		j.data, err = j.chunk.ReadInto(*fetchBufs.Get().(*[]byte))
	} else {
		j.data, err = j.chunk.ReadAll()
	}
	if !j.filter || version < 4 || err != nil {
		j.chunk.Release()
	}
	if err != nil {
		return nil, err
	}
	if len(j.aborted) > 0 {
		j.data = dropAborted(j.data, j.aborted)
	}
	data := j.data
	if j.filter {
		// The one filter run of these records for this consumer, with
		// its authenticated principal.
		data, err = c.s.cfg.Pipeline.FilterBatches(c.ctx, j.topic, j.part, *reader, data)
		switch {
		case err == nil && pipeline.FilterKeptAll(j.data, data):
			// The answer is the read buffer itself (every record kept,
			// or the filter went away meanwhile): sent from the chunk
			// when there is one (runFetchJobs), else as it is.
			j.keptAll = j.chunk.Size > 0 && version >= 4
		case len(data) == 0 || &data[0] != &j.data[0]:
			// The answer does not alias the read buffer: reuse it.
			putFetchBuf(j.data)
		}
		if err != nil {
			var pe *pipeline.PluginError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, hooks.ErrRejected) {
					return nil, &kafkaError{code: kerr.InvalidRecord, msg: pe.Error()}
				}
				return nil, &kafkaError{code: kerr.PolicyViolation, msg: pe.Error()}
			}
			return nil, err
		}
	}
	if version < 4 {
		magic := int8(0)
		if version >= 2 {
			magic = 1
		}
		var err error
		if data, err = msgset.FromBatches(data, magic); errors.Is(err, msgset.ErrUnsupportedCodec) {
			return nil, kerr.UnsupportedCompressionType
		} else if err != nil {
			return nil, err
		}
	}
	return data, nil
}

// abortedTransactions is a read's aborted transactions as Fetch answers
// them.
func abortedTransactions(ab []storage.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(ab))
	for i, a := range ab {
		out[i].ProducerID, out[i].FirstOffset = a.ProducerID, a.FirstOffset
	}
	return out
}

// dropAborted removes, in place, the batches of aborted transactions
// (transactional batches of an aborted producer between its first offset
// and its abort marker) from whole batches read from the log.
func dropAborted(data []byte, ab []storage.AbortedTxn) []byte {
	batches, err := storage.SplitBatches(data)
	if err != nil {
		return data // the read returned whole batches; leave it be
	}
	out := data[:0]
	for _, b := range batches {
		h, _ := storage.ParseHeader(b)
		if h.IsTransactional() && !h.IsControl() && slices.ContainsFunc(ab, func(a storage.AbortedTxn) bool {
			return a.ProducerID == h.ProducerID && h.BaseOffset >= a.FirstOffset && h.BaseOffset < a.LastOffset
		}) {
			continue
		}
		out = append(out, b...)
	}
	return out
}

// checkLeaderEpoch validates a client's CurrentLeaderEpoch (-1: unknown)
// against the partition's, as Kafka does for Fetch, ListOffsets and
// OffsetForLeaderEpoch.
func checkLeaderEpoch(clientEpoch, ours int32) int16 {
	switch {
	case clientEpoch < 0 || clientEpoch == ours:
		return 0
	case clientEpoch < ours:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}

// fetchRefused answers every requested partition (and, v7+, the request)
// with code.
func fetchRefused(req *kmsg.FetchRequest, code int16) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.ErrorCode = code
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
