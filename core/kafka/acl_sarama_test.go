package kafka

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/sluicemq/sluice/core/auth"
)

// TestACLAPIsWithSarama: IBM/sarama's ClusterAdmin creates, lists and
// deletes ACLs at the protocol versions it picks for Kafka 1.0 (v0, no
// pattern types), 2.0 (v1) and its newest.
func TestACLAPIsWithSarama(t *testing.T) {
	e := startACLBroker(t)
	// Sarama connects as User:ANONYMOUS: let it manage ACLs from here.
	e.setACLs(t, allowACL(auth.Anonymous, auth.ResCluster, auth.ClusterResource, lit, auth.OpAlter, "127.0.0.1"))
	for _, v := range []sarama.KafkaVersion{sarama.V1_0_0_0, sarama.V2_0_0_0, sarama.MaxVersion} {
		t.Run(v.String(), func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = v
			adm, err := sarama.NewClusterAdmin([]string{e.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			res := sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: "s-topic", ResourcePatternType: sarama.AclPatternLiteral}
			acl := sarama.Acl{Principal: "User:carol", Host: "*", Operation: sarama.AclOperationRead, PermissionType: sarama.AclPermissionAllow}
			if err := adm.CreateACL(res, acl); err != nil {
				t.Fatal(err)
			}
			name := "s-topic"
			filter := sarama.AclFilter{ResourceType: sarama.AclResourceTopic, ResourceName: &name,
				ResourcePatternTypeFilter: sarama.AclPatternLiteral, Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny}
			if v.IsAtLeast(sarama.V2_0_0_0) {
				filter.Version = 1
			}
			got, err := adm.ListAcls(filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ResourceName != "s-topic" || len(got[0].Acls) != 1 || *got[0].Acls[0] != acl {
				t.Fatalf("listed %+v", got)
			}
			del, err := adm.DeleteACL(filter, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(del) != 1 || del[0].Acl != acl || del[0].Err != sarama.ErrNoError {
				t.Fatalf("deleted %+v", del)
			}
			if got, err := adm.ListAcls(filter); err != nil || len(got) != 0 {
				t.Fatalf("after delete: %+v %v", got, err)
			}
		})
	}
}
