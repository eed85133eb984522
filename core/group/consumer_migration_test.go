package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerGroupMigrationPolicy: which Empty groups change kind under
// each group.consumer.migration.policy: an Empty classic group (it had a
// member) upgraded by a ConsumerGroupHeartbeat, an Empty consumer group
// downgraded by a classic JoinGroup; a group that never had members
// becomes a consumer group under any policy, and groups with members
// never change.
func TestConsumerGroupMigrationPolicy(t *testing.T) {
	cases := []struct {
		policy             string
		upgrade, downgrade bool
	}{
		{"", true, true},
		{MigrationBidirectional, true, true},
		{MigrationUpgrade, true, false},
		{MigrationDowngrade, false, true},
		{MigrationDisabled, false, false},
	}
	classicJoin := func(cf *cgFixture) int16 {
		ch := make(chan JoinResult, 1)
		cf.c.Join(JoinRequest{GroupID: testGroup, SessionTimeout: testSession, RebalanceTimeout: testRebalance, ProtocolType: "consumer",
			Protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t")}}}, func(r JoinResult) { ch <- r })
		select {
		case r := <-ch:
			return r.ErrorCode
		default:
			return 0 // accepted: waits for the rebalance
		}
	}
	for _, tc := range cases {
		t.Run("policy="+tc.policy, func(t *testing.T) {
			// Upgrade: classic member c1 joins and leaves.
			cf := newCGFixture(t, map[string]int32{"t": 2})
			f := cf.fixture
			f.cfg.InitialRebalanceDelay = -1
			f.cfg.MigrationPolicy = tc.policy
			runSteps(f, restart())
			cf.c = f.c
			runSteps(f, steps(stable("c1"))...)
			cf.want("a", cf.hb("a", hbOpts{}), kerr.GroupIDNotFound, 0, nil) // a member: never
			runSteps(f, leave("c1", nil))
			res := cf.hb("a", hbOpts{})
			if tc.upgrade {
				cf.want("a", res, nil, 1, map[string][]int32{"t": parts(0, 1)})
			} else {
				cf.want("a", res, kerr.GroupIDNotFound, 0, nil)
				return
			}
			// Downgrade: a leaves the consumer group.
			if code := classicJoin(cf); code != kerr.InconsistentGroupProtocol.Code {
				t.Fatalf("classic join to a consumer group with a member: %v", kerr.ErrorForCode(code))
			}
			cf.want("a", cf.hb("a", hbOpts{epoch: i32(-1)}), nil, -1, nil)
			code := classicJoin(cf)
			switch {
			case tc.downgrade && code != 0:
				t.Fatalf("classic join to an Empty consumer group: %v, want accepted", kerr.ErrorForCode(code))
			case !tc.downgrade && code != kerr.InconsistentGroupProtocol.Code:
				t.Fatalf("classic join to an Empty consumer group: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(code))
			}
		})
		t.Run("new group, policy="+tc.policy, func(t *testing.T) {
			cf := newCGFixture(t, map[string]int32{"t": 2})
			cf.c.cfg.MigrationPolicy = tc.policy
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1)})
		})
	}
}
