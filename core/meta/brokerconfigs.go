package meta

import (
	"maps"
	"strconv"
)

// DefaultBrokerEntity names the cluster-wide default of the dynamic broker
// configs, as Kafka's /config/brokers/<default> znode does; a broker's own
// entity (its id) overrides it.
const DefaultBrokerEntity = "<default>"

// BrokerEntity is the config entity of broker id.
func BrokerEntity(id int32) string { return strconv.Itoa(int(id)) }

// BrokerConfigStore is a store that holds dynamic broker configs (Kafka's
// DescribeConfigs/AlterConfigs on a BROKER resource). Both meta.ZK
// (/config/brokers/<entity>) and meta.Local implement it. Callers validate
// names and values; the store keeps strings.
type BrokerConfigStore interface {
	// BrokerConfigs returns entity's dynamic configs (empty when none):
	// entity is a broker id or DefaultBrokerEntity.
	BrokerConfigs(entity string) (map[string]string, error)
	// SetBrokerConfigs replaces entity's dynamic configs; an empty map
	// removes them. Changes are announced on Store.Changes to the broker
	// they concern.
	SetBrokerConfigs(entity string, configs map[string]string) error
	// UpdateBrokerConfigs is a read-modify-write of entity's configs, as
	// Store.UpdateTopicConfigs: edit may run again when another write got
	// in between (the default entity is altered through any broker).
	UpdateBrokerConfigs(entity string, edit ConfigEdit) error
}

// validBrokerEntity accepts DefaultBrokerEntity or a non-negative broker
// id in its canonical spelling (it becomes a znode name).
func validBrokerEntity(entity string) bool {
	if entity == DefaultBrokerEntity {
		return true
	}
	id, err := strconv.ParseInt(entity, 10, 32)
	return err == nil && id >= 0 && strconv.FormatInt(id, 10) == entity
}

func cloneConfigs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}
