package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// WriteTxnMarkers: versions 0–1 (Kafka 3.x; v2 is KIP-890's transaction
// version 2). A transaction coordinator on another broker writes commit or
// abort markers to partitions this broker leads. It needs ClusterAction on
// the cluster; each marker is answered once committed (acks=all,
// min.insync.replicas), as Kafka does.
func init() { register(27, 0, 1, (*conn).handleWriteTxnMarkers) }

// markerWaitTimeout bounds a WriteTxnMarkers request's wait for acks=all
// (the request has no timeout of its own; the coordinator retries).
const markerWaitTimeout = 30 * time.Second

func (c *conn) handleWriteTxnMarkers(h *header, req *kmsg.WriteTxnMarkersRequest) *reply {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	allowed := c.mayCluster(auth.OpClusterAction)
	type slot struct {
		marker txn.Marker
		code   *int16
	}
	var slots []slot
	for _, rm := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = rm.ProducerID
		sm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(rm.Topics))
		for ti, rt := range rm.Topics {
			st := &sm.Topics[ti]
			st.Default()
			st.Topic = rt.Topic
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(rt.Partitions))
			for pi, part := range rt.Partitions {
				sp := &st.Partitions[pi]
				sp.Default()
				sp.Partition = part
				if !allowed {
					sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				slots = append(slots, slot{marker: txn.Marker{
					Topic: rt.Topic, Partition: part, ProducerID: rm.ProducerID, ProducerEpoch: rm.ProducerEpoch,
					CoordinatorEpoch: rm.CoordinatorEpoch, Commit: rm.Committed,
				}, code: &sp.ErrorCode})
			}
		}
		resp.Markers = append(resp.Markers, sm)
	}
	r := c.ready(h, resp)
	if len(slots) == 0 {
		return r
	}
	// Waiting for acks=all happens off the reader goroutine, as for
	// produce.
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		ctx, cancel := context.WithTimeout(c.ctx, markerWaitTimeout)
		defer cancel()
		ms := make([]txn.Marker, len(slots))
		for i, s := range slots {
			ms[i] = s.marker
		}
		for i, err := range c.s.writeLocalMarkers(ctx, ms) {
			*slots[i].code = errorCode(err)
		}
	}()
	return r
}
