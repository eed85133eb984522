package group

import "fmt"

// Conversions between classic and consumer (KIP-848) groups, under
// group.consumer.migration.policy. Sluice converts Empty groups only (a
// group with members stays the kind it is: the online, member by member
// migration of Kafka's policy is not implemented, see docs/operations.md):
// a ConsumerGroupHeartbeat makes an Empty classic group a consumer group
// when the policy allows upgrades, a classic JoinGroup makes an Empty
// consumer group classic when it allows downgrades; committed offsets
// stay either way. Unlike Kafka, where Empty groups convert under any
// policy, "disabled" and the one-way policies also keep Empty groups the
// kind they are (a name stays with its protocol).

// Migration policies (group.consumer.migration.policy).
const (
	MigrationDisabled      = "disabled"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationBidirectional = "bidirectional"
)

// ValidMigrationPolicy checks a policy name ("" is the default).
func ValidMigrationPolicy(p string) error {
	switch p {
	case "", MigrationDisabled, MigrationUpgrade, MigrationDowngrade, MigrationBidirectional:
		return nil
	}
	return fmt.Errorf("want %s, %s, %s or %s", MigrationDisabled, MigrationUpgrade, MigrationDowngrade, MigrationBidirectional)
}

func (c *Coordinator) migrationPolicy() string {
	if c.cfg.MigrationPolicy == "" {
		return MigrationBidirectional
	}
	return c.cfg.MigrationPolicy
}

// upgradeAllowed: an Empty classic group may become a consumer group.
func (c *Coordinator) upgradeAllowed() bool {
	p := c.migrationPolicy()
	return p == MigrationUpgrade || p == MigrationBidirectional
}

// downgradeAllowed: an Empty consumer group may become a classic group.
func (c *Coordinator) downgradeAllowed() bool {
	p := c.migrationPolicy()
	return p == MigrationDowngrade || p == MigrationBidirectional
}
