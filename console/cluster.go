package console

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// WhoAmI is GET /console/api/whoami: who the guard let in. The pages call
// it first: 401 means "show the login form".
type WhoAmI struct {
	Principal string `json:"principal"`
	// Auth is how: "basic" (user and password), "bearer" (admin token) or
	// "none" (a loopback listener with no admin credentials configured).
	Auth string `json:"auth"`
	// AdminBase is where the plugin admin API is on this listener.
	AdminBase string `json:"admin_base"`
}

func (c *Console) whoami(w http.ResponseWriter, r *http.Request) {
	out := WhoAmI{Principal: "User:ANONYMOUS", Auth: "none", AdminBase: c.cfg.AdminBase}
	if user, _, ok := r.BasicAuth(); ok {
		out.Principal, out.Auth = "User:"+user, "basic"
	} else if s, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(s, "bearer") {
		out.Principal, out.Auth = "admin token", "bearer"
	}
	writeJSON(w, http.StatusOK, out)
}

// Broker is one broker on the Overview page.
type Broker struct {
	ID         int32  `json:"id"`
	Host       string `json:"host"`
	Port       int32  `json:"port"`
	Rack       string `json:"rack,omitempty"`
	Up         bool   `json:"up"`
	Controller bool   `json:"controller"`
}

// PartitionHealth counts partitions by health.
type PartitionHealth struct {
	Total           int `json:"total"`
	UnderReplicated int `json:"under_replicated"`
	Offline         int `json:"offline"`
}

// Throughput is this broker's log growth per second over the last few
// samples (leader replicas: what producers wrote here).
type Throughput struct {
	BytesInPerSec    float64 `json:"bytes_in_per_sec"`
	MessagesInPerSec float64 `json:"messages_in_per_sec"`
	// Known is false until two samples exist (or without LocalLogs).
	Known bool `json:"known"`
	// BytesOutPerSec is sent when the node gives a bytes-out counter
	// (Config.BytesOut); absent otherwise.
	BytesOutPerSec *float64 `json:"bytes_out_per_sec,omitempty"`
}

// Overview is GET /console/api/overview.
type Overview struct {
	ClusterID  string          `json:"cluster_id"`
	Controller int32           `json:"controller"`
	ThisBroker int32           `json:"this_broker"`
	Brokers    []Broker        `json:"brokers"`
	Topics     int             `json:"topics"`
	Partitions PartitionHealth `json:"partitions"`
	Throughput Throughput      `json:"throughput"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		writeKafkaError(w, "metadata", err)
		return
	}
	out := Overview{ClusterID: md.Cluster, Controller: md.Controller, ThisBroker: c.cfg.BrokerID}
	up := map[int32]bool{}
	for _, b := range md.Brokers {
		up[b.NodeID] = true
		br := Broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Up: true, Controller: b.NodeID == md.Controller}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		out.Brokers = append(out.Brokers, br)
	}
	// A broker named in an assignment but not registered is down.
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		out.Topics++
		for _, p := range t.Partitions {
			out.Partitions.Total++
			if p.Leader < 0 {
				out.Partitions.Offline++
			} else if len(p.ISR) < len(p.Replicas) {
				out.Partitions.UnderReplicated++
			}
			for _, id := range p.Replicas {
				if !up[id] {
					up[id] = false
				}
			}
		}
	}
	for id, u := range up {
		if !u {
			out.Brokers = append(out.Brokers, Broker{ID: id, Up: false})
			up[id] = true // once
		}
	}
	sort.Slice(out.Brokers, func(i, j int) bool { return out.Brokers[i].ID < out.Brokers[j].ID })
	out.Throughput = c.rates.total()
	out.Throughput.BytesOutPerSec = c.rates.out()
	writeJSON(w, http.StatusOK, out)
}

// sampler turns this broker's log sizes and end offsets into per-second
// rates, per topic and in total, over a sliding window of samples.
type sampler struct {
	mu sync.Mutex
	// prev is the last sample per replica; window the per-interval
	// increments (oldest first).
	prev   map[replicaKey]Replica
	window []increment
	// outPrev and outWindow: the same for the bytes-out counter.
	outPrev   *float64
	outWindow []outSample
}

type replicaKey struct {
	topic     string
	partition int32
}

type increment struct {
	dt     time.Duration
	bytes  map[string]int64
	msgs   map[string]int64
	sample time.Time
}

const windowSamples = 5

func newSampler() *sampler { return &sampler{} }

func (s *sampler) run(ctx context.Context, logs LocalLogs, bytesOut func() (float64, bool), every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	s.add(logs.Replicas(), 0)
	s.addOut(bytesOut, 0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.add(logs.Replicas(), now.Sub(last))
			s.addOut(bytesOut, now.Sub(last))
			last = now
		}
	}
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

// add records one sample. Only leaders count (a follower's growth is
// replication, not produce), and only growth: retention deletes segments,
// and a log that shrank or restarted (new replica) gives no increment.
func (s *sampler) add(reps []Replica, dt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[replicaKey]Replica, len(reps))
	inc := increment{dt: dt, bytes: map[string]int64{}, msgs: map[string]int64{}, sample: time.Now()}
	for _, r := range reps {
		k := replicaKey{r.Topic, r.Partition}
		next[k] = r
		p, ok := s.prev[k]
		if !ok || !r.Leader || !p.Leader {
			continue
		}
		if d := r.LogEnd - p.LogEnd; d > 0 {
			inc.msgs[r.Topic] += d
			if b := r.Size - p.Size; b > 0 {
				inc.bytes[r.Topic] += b
			}
		}
	}
	s.prev = next
	if dt > 0 {
		s.window = append(s.window, inc)
		if len(s.window) > windowSamples {
			s.window = slices.Delete(s.window, 0, len(s.window)-windowSamples)
		}
	}
}

// total is the whole broker's rate.
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
	for _, inc := range s.window {
		dt += inc.dt
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
	if dt <= 0 {
		return Throughput{}
	}
	sec := dt.Seconds()
	return Throughput{BytesInPerSec: float64(bytes) / sec, MessagesInPerSec: float64(msgs) / sec, Known: true}
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

// localReplicas lists this broker's replica sizes per topic and partition.
func (c *Console) localReplicas() map[replicaKey]Replica {
	out := map[replicaKey]Replica{}
	if c.cfg.Logs == nil {
		return out
	}
	for _, r := range c.cfg.Logs.Replicas() {
		out[replicaKey{r.Topic, r.Partition}] = r
	}
	return out
}
