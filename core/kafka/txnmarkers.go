package kafka

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/txn"
)

// txnMarkers is the server's side of transaction markers: the
// txn.MarkerWriter the coordinator uses, the observers told about markers
// written here, and the client that reaches other brokers' partitions.
type txnMarkers struct {
	mu         sync.Mutex
	observers  []txn.MarkerObserver
	remoteOpts []kgo.Opt
	remote     *kgo.Client
	closed     bool
}

// errNoMarkerRemote: a marker for a partition another broker leads, but
// no inter-broker client is configured (SetMarkerRemote).
var errNoMarkerRemote = errors.New("kafka: no client for other brokers' transaction markers")

// RegisterMarkerObserver adds an observer told about every marker written
// to a partition this broker leads (by this broker's coordinator or by a
// WriteTxnMarkers request), after it is committed (acks=all). A marker the
// coordinator retries is observed again: observers must be idempotent.
func (s *Server) RegisterMarkerObserver(o txn.MarkerObserver) {
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	s.markers.observers = append(s.markers.observers, o)
}

// SetMarkerRemote configures the client that sends WriteTxnMarkers to the
// leaders of partitions this broker does not lead (seed brokers, dialer,
// inter-broker SASL). It is created on first use.
func (s *Server) SetMarkerRemote(opts ...kgo.Opt) {
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	s.markers.remoteOpts = slices.Clone(opts)
}

// closeMarkers closes the inter-broker client (Server.Close).
func (s *Server) closeMarkers() {
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	s.markers.closed = true
	if s.markers.remote != nil {
		s.markers.remote.Close()
		s.markers.remote = nil
	}
}

func (s *Server) markerClient() (*kgo.Client, error) {
	m := &s.markers
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, kerr.BrokerNotAvailable
	case m.remote != nil:
		return m.remote, nil
	case len(m.remoteOpts) == 0:
		return nil, errNoMarkerRemote
	}
	cl, err := kgo.NewClient(append(slices.Clone(m.remoteOpts), kgo.ClientID("sluice-txn-markers"))...)
	if err != nil {
		return nil, err
	}
	m.remote = cl
	return cl, nil
}

func (s *Server) observeMarker(mk txn.Marker) {
	s.markers.mu.Lock()
	obs := slices.Clone(s.markers.observers)
	s.markers.mu.Unlock()
	for _, o := range obs {
		o(mk)
	}
}

// MarkerWriter is the broker's txn.MarkerWriter: markers for partitions
// this broker leads are appended here, the others go to their leaders in
// one WriteTxnMarkers request per broker.
func (s *Server) MarkerWriter() txn.MarkerWriter { return markerWriter{s} }

type markerWriter struct{ s *Server }

// WriteMarkers implements txn.MarkerWriter.
func (w markerWriter) WriteMarkers(ctx context.Context, ms []txn.Marker) []error {
	s := w.s
	errs := make([]error, len(ms))
	failed := false
	var local []int
	remote := map[int32][]int{} // leader broker: indexes into ms
	for i, mk := range ms {
		leader, err := s.markerLeader(mk.Topic, mk.Partition)
		switch {
		case err != nil:
			errs[i], failed = err, true
		case leader == s.b.ID():
			local = append(local, i)
		default:
			remote[leader] = append(remote[leader], i)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	setErr := func(i int, err error) {
		if err != nil {
			mu.Lock()
			errs[i], failed = err, true
			mu.Unlock()
		}
	}
	for leader, idx := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, err := range s.sendMarkers(ctx, leader, ms, idx) {
				setErr(idx[k], err)
			}
		}()
	}
	if len(local) > 0 {
		lm := make([]txn.Marker, len(local))
		for k, i := range local {
			lm[k] = ms[i]
		}
		for k, err := range s.writeLocalMarkers(ctx, lm) {
			setErr(local[k], err)
		}
	}
	wg.Wait()
	if !failed {
		return nil
	}
	return errs
}

// markerLeader is the broker leading a partition per the metadata.
func (s *Server) markerLeader(topic string, part int32) (int32, error) {
	mt, ok := s.b.Topic(topic)
	if !ok || part < 0 || int(part) >= len(mt.Partitions) {
		return -1, kerr.UnknownTopicOrPartition
	}
	if l := mt.Partitions[part].Leader; l >= 0 {
		return l, nil
	}
	return -1, kerr.LeaderNotAvailable
}

// writeLocalMarkers appends markers to partitions this broker leads, then
// waits for each to be committed (acks=all, min.insync.replicas) and tells
// the observers. Errors are the partitions' (and broker's) typed errors,
// in the order of ms; the coordinator reads them through kerrmap.
func (s *Server) writeLocalMarkers(ctx context.Context, ms []txn.Marker) []error {
	errs := make([]error, len(ms))
	type written struct {
		p   *partition.Partition
		res partition.AppendResult
	}
	ws := make([]written, len(ms))
	// All appends first, then all waits.
	for i, mk := range ms {
		p, err := s.b.Partition(mk.Topic, mk.Partition)
		if err == nil {
			err = p.CheckMinISR()
		}
		if err != nil {
			errs[i] = err
			continue
		}
		res, err := p.WriteTxnMarker(partition.TxnMarker{
			ProducerID: mk.ProducerID, ProducerEpoch: mk.ProducerEpoch,
			CoordinatorEpoch: mk.CoordinatorEpoch, Commit: mk.Commit,
		})
		if err != nil {
			errs[i] = err
			continue
		}
		ws[i] = written{p, res}
	}
	// The waits run in parallel: in fsync durability each one fsyncs its
	// partition's log, and one after another those add up to most of a
	// commit's latency.
	var wg sync.WaitGroup
	for i, mk := range ms {
		if errs[i] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ws[i].p.WaitCommitted(ctx, ws[i].res); err != nil {
				errs[i] = err
				return
			}
			s.observeMarker(mk)
		}()
	}
	wg.Wait()
	return errs
}

// sendMarkers sends markers ms[idx...] to their leader in one
// WriteTxnMarkers request; errors in the order of idx.
func (s *Server) sendMarkers(ctx context.Context, leader int32, ms []txn.Marker, idx []int) []error {
	errs := make([]error, len(idx))
	fail := func(err error) []error {
		for k := range errs {
			errs[k] = err
		}
		return errs
	}
	cl, err := s.markerClient()
	if err != nil {
		return fail(err)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	for _, i := range idx {
		mk := ms[i]
		rm := kmsg.NewWriteTxnMarkersRequestMarker()
		rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = mk.ProducerID, mk.ProducerEpoch, mk.Commit, mk.CoordinatorEpoch
		rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		rt.Topic, rt.Partitions = mk.Topic, []int32{mk.Partition}
		rm.Topics = append(rm.Topics, rt)
		req.Markers = append(req.Markers, rm)
	}
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		s.logger.Debug("sending transaction markers failed", "leader", leader, "err", err)
		return fail(kerr.NotLeaderForPartition) // the coordinator retries after a metadata refresh
	}
	if len(resp.Markers) != len(idx) {
		return fail(kerr.UnknownServerError)
	}
	for k, rm := range resp.Markers {
		errs[k] = kerr.UnknownServerError
		if len(rm.Topics) == 1 && len(rm.Topics[0].Partitions) == 1 {
			errs[k] = kerr.ErrorForCode(rm.Topics[0].Partitions[0].ErrorCode)
		}
	}
	return errs
}
