package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// DescribeCluster: versions 0–1 (brokers, controller, cluster id).
func init() { register(60, 0, 1, (*conn).handleDescribeCluster) }

func (c *conn) handleDescribeCluster(h *header, req *kmsg.DescribeClusterRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	store := c.s.b.Store()
	resp.ClusterID = store.ClusterID()
	resp.ControllerID = store.ControllerID()
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = c.authorizedOps(auth.ResCluster, auth.ClusterResource)
	}
	for _, b := range store.Brokers() {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.ID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return c.ready(h, resp)
}
