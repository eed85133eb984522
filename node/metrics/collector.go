// Package metrics exports the broker's state to Prometheus at scrape time
// (docs/metrics.md): per-topic traffic, partition health, log sizes and
// consumer group lag are read from the brokers' partitions, metadata and
// group coordinators when /metrics is scraped, so nothing on the produce
// or fetch path updates a metric for them. The core packages keep plain
// counters and know nothing of Prometheus; this package (wired by node/)
// is the only reader.
package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/internal/promreg"
)

// Options of the collector.
type Options struct {
	// PartitionLabels adds a partition label to the log size, segment
	// and consumer lag series (one series per partition instead of per
	// topic): more detail, cardinality times the partition count
	// (--metrics-partition-labels).
	PartitionLabels bool
}

// The collector is process-wide, registered once on the default registry
// (what /metrics serves); every broker a process runs adds itself with
// Track. Several brokers in one process (tests) are summed per series.
var (
	registerOnce sync.Once
	theCollector = &collector{brokers: map[*broker.Broker]struct{}{}}
)

// Track adds b to what /metrics reports until the returned function is
// called (at the broker's shutdown).
func Track(b *broker.Broker, opts Options) (untrack func()) {
	registerOnce.Do(func() { promreg.Register(prometheus.Collector(theCollector)) })
	theCollector.partitionLabels.Store(opts.PartitionLabels)
	theCollector.mu.Lock()
	theCollector.brokers[b] = struct{}{}
	theCollector.mu.Unlock()
	return func() {
		theCollector.mu.Lock()
		delete(theCollector.brokers, b)
		theCollector.mu.Unlock()
	}
}

type collector struct {
	mu              sync.Mutex
	brokers         map[*broker.Broker]struct{}
	partitionLabels atomic.Bool
}

var (
	topicLabels = []string{"topic"}
	descBytesIn = prometheus.NewDesc("sluice_topic_bytes_in_total",
		"Record bytes produced to the topic's partitions led here, as received (replication excluded).", topicLabels, nil)
	descMessagesIn = prometheus.NewDesc("sluice_topic_messages_in_total",
		"Records produced to the topic's partitions led here.", topicLabels, nil)
	descBytesOut = prometheus.NewDesc("sluice_topic_bytes_out_total",
		"Record bytes sent to consumers from the topic's partitions (replica fetches excluded).", topicLabels, nil)

	descPartitions = prometheus.NewDesc("sluice_partitions",
		"Partitions with a replica on this broker.", nil, nil)
	descLeaders = prometheus.NewDesc("sluice_leader_partitions",
		"Partitions this broker leads.", nil, nil)
	descURP = prometheus.NewDesc("sluice_under_replicated_partitions",
		"Partitions led by this broker whose in-sync replicas are fewer than their replicas.", nil, nil)
	descUnderMinISR = prometheus.NewDesc("sluice_under_min_isr_partitions",
		"Partitions led by this broker with fewer in-sync replicas than min.insync.replicas.", nil, nil)
	descOffline = prometheus.NewDesc("sluice_offline_partitions",
		"Partitions without a live leader; reported by the active controller only (0 elsewhere).", nil, nil)
	descOfflineReplicas = prometheus.NewDesc("sluice_offline_replicas",
		"Replicas on this broker whose log is offline after a storage error.", nil, nil)
	descActiveController = prometheus.NewDesc("sluice_active_controller",
		"1 on the broker that is the active controller, else 0.", nil, nil)
	descISRShrinks = prometheus.NewDesc("sluice_isr_shrinks_total",
		"ISR changes applied by a leader on this broker that removed a replica.", nil, nil)
	descISRExpands = prometheus.NewDesc("sluice_isr_expands_total",
		"ISR changes applied by a leader on this broker that added a replica.", nil, nil)
	descElections = prometheus.NewDesc("sluice_leader_elections_total",
		"Leader elections made by this broker's controller, by kind (clean: a lost leader replaced from the ISR; unclean; preferred).", []string{"kind"}, nil)
)

// Descriptions of the series whose labels depend on PartitionLabels.
func logDescs(parts bool) (size, segments, lag *prometheus.Desc) {
	l, g := []string{"topic"}, []string{"group", "topic"}
	if parts {
		l, g = append(l, "partition"), append(g, "partition")
	}
	size = prometheus.NewDesc("sluice_log_size_bytes", "Bytes of the log segments of replicas on this broker.", l, nil)
	segments = prometheus.NewDesc("sluice_log_segments", "Log segments of replicas on this broker.", l, nil)
	lag = prometheus.NewDesc("sluice_consumer_group_lag",
		"High watermark minus committed offset, for groups coordinated by this broker and partitions hosted on it.", g, nil)
	return size, segments, lag
}

// Describe sends nothing: the collector is unchecked, because its log and
// lag series change labels with PartitionLabels.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// series sums one metric's values by label values across brokers.
type series struct {
	desc   *prometheus.Desc
	typ    prometheus.ValueType
	order  []string
	labels map[string][]string
	values map[string]float64
}

func newSeries(d *prometheus.Desc, t prometheus.ValueType) *series {
	return &series{desc: d, typ: t, labels: map[string][]string{}, values: map[string]float64{}}
}

func (s *series) add(v float64, lvs ...string) {
	k := labelKey(lvs)
	if _, ok := s.labels[k]; !ok {
		s.labels[k] = lvs
		s.order = append(s.order, k)
	}
	s.values[k] += v
}

func labelKey(lvs []string) string {
	n := 0
	for _, l := range lvs {
		n += len(l) + 1
	}
	b := make([]byte, 0, n)
	for _, l := range lvs {
		b = append(b, l...)
		b = append(b, 0)
	}
	return string(b)
}

func (s *series) emit(ch chan<- prometheus.Metric) {
	for _, k := range s.order {
		ch <- prometheus.MustNewConstMetric(s.desc, s.typ, s.values[k], s.labels[k]...)
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	brokers := make([]*broker.Broker, 0, len(c.brokers))
	for b := range c.brokers {
		brokers = append(brokers, b)
	}
	c.mu.Unlock()
	parts := c.partitionLabels.Load()
	sizeDesc, segDesc, lagDesc := logDescs(parts)

	bytesIn := newSeries(descBytesIn, prometheus.CounterValue)
	msgsIn := newSeries(descMessagesIn, prometheus.CounterValue)
	bytesOut := newSeries(descBytesOut, prometheus.CounterValue)
	size := newSeries(sizeDesc, prometheus.GaugeValue)
	segs := newSeries(segDesc, prometheus.GaugeValue)
	lag := newSeries(lagDesc, prometheus.GaugeValue)
	var hosted, leaders, urp, underMin, offline, offlineReplicas, active float64

	for _, b := range brokers {
		self := b.ID()
		hw := map[group.TopicPartition]int64{}
		// Traffic comes from the broker's per topic partition counters,
		// which outlive partition objects (a replica moved away keeps
		// what it counted here): counters never go down.
		for _, tr := range b.Traffic() {
			bytesIn.add(float64(tr.BytesIn), tr.Topic)
			msgsIn.add(float64(tr.MessagesIn), tr.Topic)
			bytesOut.add(float64(tr.BytesOut), tr.Topic)
		}
		for _, p := range b.HostedPartitions() {
			hosted++
			if p.Offline() != nil {
				offlineReplicas++
				continue
			}
			st := p.Stats()
			lvs := partLabels(parts, p)
			size.add(float64(st.Size), lvs...)
			segs.add(float64(st.Segments), lvs...)
			hw[group.TopicPartition{Topic: p.Topic, Partition: p.Index}] = p.HighWatermark()
			if leader, _, _, isr := p.Role(); leader && len(isr) < p.Config().MinInsyncReplicas {
				underMin++
			}
		}

		store := b.Store()
		isController := store.ControllerID() == self
		if isController {
			active++
		}
		live := map[int32]bool{}
		for _, br := range store.Brokers() {
			live[br.ID] = true
		}
		for _, t := range store.Topics() {
			for _, ps := range t.Partitions {
				if ps.Leader == self {
					leaders++
					if len(ps.ISR) < len(ps.Replicas) {
						urp++
					}
				}
				if isController && (ps.Leader < 0 || !live[ps.Leader]) {
					offline++
				}
			}
		}

		groups := b.Groups()
		if groups == nil {
			continue
		}
		for _, g := range groups.List() {
			offs, code := groups.FetchOffsets(g.GroupID, nil)
			if code != 0 {
				continue
			}
			for tp, o := range offs {
				end, ok := hw[tp]
				if !ok || o.Offset < 0 {
					continue // partition not hosted here: its lag is another broker's
				}
				l := float64(max(end-o.Offset, 0))
				if parts {
					lag.add(l, g.GroupID, tp.Topic, strconv.Itoa(int(tp.Partition)))
				} else {
					lag.add(l, g.GroupID, tp.Topic)
				}
			}
		}
	}

	for _, s := range []*series{bytesIn, msgsIn, bytesOut, size, segs, lag} {
		s.emit(ch)
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descPartitions, hosted)
	gauge(descLeaders, leaders)
	gauge(descURP, urp)
	gauge(descUnderMinISR, underMin)
	gauge(descOffline, offline)
	gauge(descOfflineReplicas, offlineReplicas)
	gauge(descActiveController, active)
	shrinks, expands := partition.ISRChanges()
	ch <- prometheus.MustNewConstMetric(descISRShrinks, prometheus.CounterValue, float64(shrinks))
	ch <- prometheus.MustNewConstMetric(descISRExpands, prometheus.CounterValue, float64(expands))
	clean, unclean, preferred := cluster.LeaderElections()
	for _, e := range []struct {
		kind string
		n    uint64
	}{{"clean", clean}, {"unclean", unclean}, {"preferred", preferred}} {
		ch <- prometheus.MustNewConstMetric(descElections, prometheus.CounterValue, float64(e.n), e.kind)
	}
}

func partLabels(parts bool, p *partition.Partition) []string {
	if parts {
		return []string{p.Topic, strconv.Itoa(int(p.Index))}
	}
	return []string{p.Topic}
}
