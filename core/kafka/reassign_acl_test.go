package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// TestACLReassignAndLogDirs: AlterPartitionReassignments needs ALTER on
// the cluster, ListPartitionReassignments and DescribeLogDirs DESCRIBE on
// it, as in Kafka; without the grant they answer
// CLUSTER_AUTHORIZATION_FAILED (every partition of an alter too).
func TestACLReassignAndLogDirs(t *testing.T) {
	e := startACLBroker(t)
	cl := e.client(t, alice)
	if _, err := e.admin.CreateTopic(t.Context(), 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	alter := func(t *testing.T, _ *aclEnv, cl *kgo.Client) int16 {
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Replicas = []int32{0} // the single node: completes at once
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := send[*kmsg.AlterPartitionAssignmentsResponse](t, cl, req)
		if pc := resp.Topics[0].Partitions[0].ErrorCode; pc != resp.ErrorCode {
			t.Fatalf("partition code %v, top-level %v", kerr.ErrorForCode(pc), kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.ErrorCode
	}
	list := func(t *testing.T, _ *aclEnv, cl *kgo.Client) int16 {
		return send[*kmsg.ListPartitionReassignmentsResponse](t, cl, kmsg.NewPtrListPartitionReassignmentsRequest()).ErrorCode
	}
	logDirs := func(t *testing.T, _ *aclEnv, cl *kgo.Client) int16 {
		resp := send[*kmsg.DescribeLogDirsResponse](t, cl, kmsg.NewPtrDescribeLogDirsRequest())
		if resp.ErrorCode == 0 && (len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) == 0) {
			t.Fatalf("allowed DescribeLogDirs answered %d dirs", len(resp.Dirs))
		}
		if resp.ErrorCode != 0 && len(resp.Dirs) != 0 {
			t.Fatal("a refused DescribeLogDirs lists dirs")
		}
		return resp.ErrorCode
	}
	denied := kerr.ClusterAuthorizationFailed.Code
	for _, c := range []struct {
		name string
		op   auth.Operation
		call func(*testing.T, *aclEnv, *kgo.Client) int16
	}{{"AlterPartitionReassignments", auth.OpAlter, alter}, {"ListPartitionReassignments", auth.OpDescribe, list}, {"DescribeLogDirs", auth.OpDescribe, logDirs}} {
		for _, v := range []struct {
			name  string
			grant []meta.ACLBinding
			want  int16
		}{
			{"no-acl", nil, denied},
			{"cluster-grant", []meta.ACLBinding{allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, c.op, "*")}, 0},
			{"other-principal", []meta.ACLBinding{allowACL("User:bob", auth.ResCluster, auth.ClusterResource, lit, c.op, "*")}, denied},
			{"topic-grant-is-not-enough", []meta.ACLBinding{allowACL(alice, auth.ResTopic, "orders", lit, auth.OpAll, "*")}, denied},
		} {
			t.Run(c.name+"/"+v.name, func(t *testing.T) {
				e.setACLs(t, v.grant...)
				if got := c.call(t, e, cl); got != v.want {
					t.Fatalf("got %v, want %v", kerr.ErrorForCode(got), kerr.ErrorForCode(v.want))
				}
			})
		}
	}
}
