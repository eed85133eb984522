package console

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Cluster-wide rates. The console computes bytes and messages in per
// second for the whole cluster from what every broker reports over the
// Kafka protocol, the same way any Kafka tool could:
//
//   - messages: the growth of every partition's high watermark
//     (ListOffsets, answered by each partition's leader);
//   - bytes: the growth of each partition's leader replica on disk
//     (DescribeLogDirs, asked of each live broker for the partitions it
//     leads). A leader's log grows by exactly the record batches
//     producers sent it, as received, which is what Kafka's BytesInPerSec
//     and sluice_topic_bytes_in_total count.
//
// The two are counted independently: a leader's log grows when it
// appends, its high watermark only once the followers have the batch, so
// a sample often falls between the two (under load, for hundreds of ms).
// Tying the bytes to the same interval's message growth lost those bytes
// for good. Likewise a partition a sample could not read (its leader did
// not answer) keeps its last reading, so its growth shows at the next
// sample that reads it instead of being lost; the window's From says
// from when its counts may date.
//
// Why this and not each broker's counters: peers do not know each other's
// HTTP address (the broker registration carries the Kafka listener only,
// and the HTTP listener is loopback by default), while the Kafka listener
// is what brokers already reach each other on, with the inter-broker
// credentials the console's client uses. Publishing counters through the
// metadata store or a topic would write every second on every broker
// whether anyone looks or not. Sampling happens only while the console is
// in use (an API call in the last idleAfter), so an unwatched cluster pays
// nothing.

// idleAfter: the sampler stops when no page asked for rates for this
// long, and starts again (from no samples) on the next request.
const idleAfter = time.Minute

// windowSamples intervals make the rates (5 s at the default 1 s
// interval).
const windowSamples = 5

// sampler turns log sizes and end offsets into per-second rates, per
// topic and in total, over a sliding window of samples.
type sampler struct {
	mu sync.Mutex
	// prev is the last reading per partition (kept while the partition
	// is listed but unread); prevAt the time of the last sample (zero:
	// none); window the per-interval increments (oldest first).
	prev   map[replicaKey]reading
	prevAt time.Time
	window []increment
	// listed are the partitions the last sample's metadata listed (nil:
	// unknown), sized or not: one missing there is new since.
	listed map[replicaKey]bool
	// brokers answered and live in the last sample.
	brokers, live int
	// outPrev and outWindow: the same for the bytes-out counter.
	outPrev   *float64
	outWindow []outSample

	lastUse atomic.Int64 // unix nanoseconds of the last touch
	wake    chan struct{}
}

type replicaKey struct {
	topic     string
	partition int32
}

// reading is one partition's replica as read by the sample at at.
type reading struct {
	Replica
	at time.Time
}

// increment is the growth between two samples: dt is their distance, to
// the later one's time and from the earliest reading the counts start
// from (the earlier sample's time unless a partition's growth spans
// samples that could not read it).
type increment struct {
	dt       time.Duration
	from, to time.Time
	bytes    map[string]int64
	msgs     map[string]int64
}

func newSampler() *sampler { return &sampler{wake: make(chan struct{}, 1)} }

// touch marks the rates as wanted; an idle sampler starts at once.
func (s *sampler) touch() {
	now := time.Now().UnixNano()
	if old := s.lastUse.Swap(now); now-old > int64(idleAfter) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *sampler) wanted() bool {
	return time.Since(time.Unix(0, s.lastUse.Load())) <= idleAfter
}

// sampleFunc reads every partition's leader replica (those it could
// size), every partition the metadata lists, and how many brokers
// answered of how many are live.
type sampleFunc func(ctx context.Context) (reps []Replica, listed map[replicaKey]bool, answered, live int, err error)

func (s *sampler) run(ctx context.Context, sample sampleFunc, bytesOut func() (float64, bool), every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	sampling := false // a sample was taken since the sampler was last idle
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		if !s.wanted() {
			if sampling {
				s.reset()
				sampling = false
			}
			continue
		}
		now := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reps, listed, answered, live, err := sample(sctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
			continue // the next sample's interval spans this one
		}
		dt := s.add(reps, listed, now)
		s.setBrokers(answered, live)
		s.addOut(bytesOut, dt)
		sampling = true
	}
}

// reset forgets every sample (the sampler went idle).
func (s *sampler) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prev, s.listed, s.window, s.outPrev, s.outWindow = nil, nil, nil, nil, nil
	s.prevAt = time.Time{}
	s.brokers, s.live = 0, 0
}

func (s *sampler) setBrokers(answered, live int) {
	s.mu.Lock()
	s.brokers, s.live = answered, live
	s.mu.Unlock()
}

// addOut samples the bytes-out counter, if any, into its own window.
func (s *sampler) addOut(read func() (float64, bool), dt time.Duration) {
	if read == nil {
		return
	}
	v, ok := read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.outPrev, s.outWindow = nil, nil
		return
	}
	if s.outPrev != nil && dt > 0 && v >= *s.outPrev { // a counter that went back was reset
		s.outWindow = append(s.outWindow, outSample{dt: dt, bytes: v - *s.outPrev})
		if len(s.outWindow) > windowSamples {
			s.outWindow = slices.Delete(s.outWindow, 0, len(s.outWindow)-windowSamples)
		}
	}
	s.outPrev = &v
}

type outSample struct {
	dt    time.Duration
	bytes float64
}

// add records the sample taken at at. Only leaders count (a follower's
// growth is replication, not produce), and only growth of the same leader:
// retention deletes segments, a log that shrank gives no bytes, and a
// partition whose leader changed (another replica's log) gives nothing. A
// partition first seen gives nothing either (its growth before is
// unknown), unless the previous sample's metadata did not list it
// (listed): it was created since, from an empty log, so all of it is new.
// Messages (high watermark) and bytes (log size) count independently: the
// log grows before the high watermark moves. A partition listed but not
// read (nil listed: any) keeps its last reading for the next sample.
// It returns the time since the previous sample (zero: none).
func (s *sampler) add(reps []Replica, listed map[replicaKey]bool, at time.Time) (dt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.prevAt.IsZero() {
		dt = at.Sub(s.prevAt)
	}
	next := make(map[replicaKey]reading, len(reps))
	inc := increment{dt: dt, from: s.prevAt, to: at, bytes: map[string]int64{}, msgs: map[string]int64{}}
	for _, r := range reps {
		k := replicaKey{r.Topic, r.Partition}
		next[k] = reading{r, at}
		p, ok := s.prev[k]
		if !ok && r.Leader && s.listed != nil && !s.listed[k] {
			p, ok = reading{Replica{Topic: r.Topic, Partition: r.Partition, Leader: true, Broker: r.Broker}, s.prevAt}, true
		}
		if !ok || !r.Leader || !p.Leader || p.Broker != r.Broker {
			continue
		}
		grew := false
		if d := r.LogEnd - p.LogEnd; d > 0 {
			inc.msgs[r.Topic] += d
			grew = true
		}
		if b := r.Size - p.Size; b > 0 {
			inc.bytes[r.Topic] += b
			grew = true
		}
		if grew && p.at.Before(inc.from) {
			inc.from = p.at
		}
	}
	for k, p := range s.prev {
		if _, read := next[k]; !read && (listed == nil || listed[k]) {
			next[k] = p
		}
	}
	s.prev, s.listed, s.prevAt = next, listed, at
	if dt > 0 {
		s.window = append(s.window, inc)
		if len(s.window) > windowSamples {
			s.window = slices.Delete(s.window, 0, len(s.window)-windowSamples)
		}
	}
	return dt
}

// total is the whole cluster's rate.
func (s *sampler) total() Throughput {
	return s.rate(func(string) bool { return true })
}

// topic is one topic's rate.
func (s *sampler) topic(name string) Throughput {
	return s.rate(func(t string) bool { return t == name })
}

func (s *sampler) rate(match func(string) bool) Throughput {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dt time.Duration
	var bytes, msgs int64
	var from time.Time
	for i, inc := range s.window {
		dt += inc.dt
		if i == 0 || inc.from.Before(from) {
			from = inc.from
		}
		for t, b := range inc.bytes {
			if match(t) {
				bytes += b
			}
		}
		for t, m := range inc.msgs {
			if match(t) {
				msgs += m
			}
		}
	}
	out := Throughput{Brokers: s.brokers, BrokersLive: s.live}
	if dt <= 0 {
		return out
	}
	sec := dt.Seconds()
	out.BytesInPerSec, out.MessagesInPerSec, out.Known = float64(bytes)/sec, float64(msgs)/sec, true
	out.Window = &Window{Seconds: sec, BytesIn: bytes, MessagesIn: msgs, From: from, To: s.window[len(s.window)-1].to}
	return out
}

// out is the bytes-out rate; nil when not measured.
func (s *sampler) out() *float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dt time.Duration
	var b float64
	for _, o := range s.outWindow {
		dt, b = dt+o.dt, b+o.bytes
	}
	if dt <= 0 {
		return nil
	}
	r := b / dt.Seconds()
	return &r
}

// sampleCluster reads every partition's leader replica over the Kafka
// protocol: high watermarks from ListOffsets, leader log sizes from
// DescribeLogDirs sent to each leader for the partitions it leads (in
// parallel). A broker that does not answer leaves its partitions out of
// this sample (answered < live says so).
func (c *Console) sampleCluster(ctx context.Context) ([]Replica, map[replicaKey]bool, int, int, error) {
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	live := len(md.Brokers)
	byLeader := map[int32]kadm.TopicsSet{}
	listed := map[replicaKey]bool{}
	var names []string
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		names = append(names, t.Topic)
		for _, p := range t.Partitions {
			listed[replicaKey{t.Topic, p.Partition}] = true
			if p.Err != nil || p.Leader < 0 {
				continue
			}
			set := byLeader[p.Leader]
			if set == nil {
				set = kadm.TopicsSet{}
				byLeader[p.Leader] = set
			}
			set.Add(t.Topic, p.Partition)
		}
	}
	if len(names) == 0 {
		return nil, listed, live, live, nil
	}
	ends, err := c.adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	type answer struct {
		id   int32
		dirs kadm.DescribedLogDirs
		err  error
	}
	ch := make(chan answer, len(byLeader))
	for id, set := range byLeader {
		go func() {
			d, err := c.adm.DescribeBrokerLogDirs(ctx, id, set)
			ch <- answer{id, d, err}
		}()
	}
	sizes := map[replicaKey]int64{}
	failed := 0
	for range byLeader {
		a := <-ch
		if a.err != nil {
			failed++
			c.log.Debug("rates: describe log dirs", "broker", a.id, "err", a.err)
			continue
		}
		a.dirs.EachPartition(func(p kadm.DescribedLogDirPartition) {
			sizes[replicaKey{p.Topic, p.Partition}] = p.Size
		})
	}
	var reps []Replica
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		for _, p := range t.Partitions {
			if p.Err != nil || p.Leader < 0 {
				continue
			}
			size, ok := sizes[replicaKey{t.Topic, p.Partition}]
			end, ok2 := ends.Lookup(t.Topic, p.Partition)
			if !ok || !ok2 || end.Err != nil {
				continue
			}
			reps = append(reps, Replica{Topic: t.Topic, Partition: p.Partition, Leader: true, Broker: p.Leader, Size: size, LogEnd: end.Offset})
		}
	}
	return reps, listed, max(live-failed, 0), live, nil
}
