package node

import (
	"time"

	"github.com/sluicemq/sluice/core/broker"
)

// Config is everything `sluice serve` can set: the broker core's settings
// (broker.Config, embedded, so cfg.DataDir and the like read as before)
// plus what only the node reads: the listeners, the Kafka port's
// connection and memory limits, and cluster membership. Zero values take
// the default documented on each field (Defaults fills them in).
type Config struct {
	broker.Config

	// KafkaAddr is the Kafka protocol listen address. Default ":9092".
	KafkaAddr string
	// AdvertisedAddr is the host:port given to clients in Metadata. Default:
	// the bound listener address (with 127.0.0.1 when bound to all interfaces).
	AdvertisedAddr string
	// HTTPAddr is the HTTP listener (bridge, SSE, plugin admin API).
	// Default ":8080"; "off" disables it.
	HTTPAddr string

	// Connection and request-memory limits of the Kafka listener
	// (Kafka's max.connections, max.connections.per.ip,
	// queued.max.request.bytes), and the budget for one request's
	// decoded form. Defaults 10,000, 1,000, 512 MiB and 64 MiB.
	MaxConnections         int
	MaxConnectionsPerIP    int
	QueuedMaxRequestBytes  int64
	MaxDecodedRequestBytes int64
	// DisableSendfile copies fetched data through user space instead of
	// sendfile(2), as TLS must; sluice-bench uses it to measure what
	// losing sendfile costs.
	DisableSendfile bool
	// FetchSessionCacheSlots bounds the Kafka server's cached fetch
	// sessions (max.incremental.fetch.session.cache.slots); 0 means 1000,
	// negative disables fetch sessions (the serve flag's 0 becomes -1).
	FetchSessionCacheSlots int
	// MetricsPartitionLabels adds a partition label to the log size,
	// segment and consumer lag metrics (docs/metrics.md); off, they are
	// per topic.
	MetricsPartitionLabels bool

	// ZooKeeper joins a cluster: "host:port[,host:port...][/chroot]".
	// Empty runs the embedded single-node store. This is the run mode:
	// the node opens the metadata store it names and hands it to the
	// broker.
	ZooKeeper string
	// ZooKeeperSessionTimeout: a broker that cannot reach ZooKeeper for
	// this long loses its registration (zookeeper.session.timeout.ms).
	// Default 18s.
	ZooKeeperSessionTimeout time.Duration
	// ReplicaLagMax: followers that have not caught up for this long leave
	// the ISR (replica.lag.time.max.ms). Default 30s.
	ReplicaLagMax time.Duration
	// FollowerReplicationThrottledRate caps, in bytes/s, what this broker
	// fetches as a follower for the replicas a topic's
	// follower.replication.throttled.replicas names
	// (follower.replication.throttled.rate). 0: unlimited.
	FollowerReplicationThrottledRate int64
	// LeaderReplicationThrottledRate caps, in bytes/s, what this broker
	// sends as leader to out-of-sync followers of the replicas a topic's
	// leader.replication.throttled.replicas names
	// (leader.replication.throttled.rate). 0: unlimited.
	LeaderReplicationThrottledRate int64
	// ReplicaHWCheckpointInterval: how often the high watermarks are
	// checkpointed to the data dir's replication-offset-checkpoint
	// (replica.high.watermark.checkpoint.interval.ms). Default 5s.
	ReplicaHWCheckpointInterval time.Duration
	// ReplicaFetchers: fetchers (each with its own connection) a follower
	// runs per leader (num.replica.fetchers). Default 2.
	ReplicaFetchers int
	// UncleanLeaderElection lets out-of-sync replicas lead when no ISR
	// member is alive (unclean.leader.election.enable). Default false.
	UncleanLeaderElection bool
	// PreferredLeaderInterval: how often the controller moves leadership
	// back to preferred replicas (leader.imbalance.check.interval). Default
	// 30s; negative disables.
	PreferredLeaderInterval time.Duration
	// ControlledShutdownTimeout bounds how long a stopping cluster member
	// waits for the controller to move its leaderships and ISR
	// memberships away (controlled.shutdown; see controlled_shutdown.go).
	// Default 30s; negative stops without asking.
	ControlledShutdownTimeout time.Duration
}

// Defaults returns cfg with zero fields set to their defaults, the
// embedded broker.Config's included.
func (cfg Config) Defaults() Config {
	if cfg.KafkaAddr == "" {
		cfg.KafkaAddr = ":9092"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8080"
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 10000
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = 1000
	}
	if cfg.QueuedMaxRequestBytes <= 0 {
		cfg.QueuedMaxRequestBytes = 512 << 20
	}
	if cfg.FetchSessionCacheSlots == 0 {
		cfg.FetchSessionCacheSlots = 1000
	}
	if cfg.MaxDecodedRequestBytes <= 0 {
		cfg.MaxDecodedRequestBytes = 64 << 20
	}
	if cfg.ZooKeeperSessionTimeout <= 0 {
		cfg.ZooKeeperSessionTimeout = 18 * time.Second
	}
	if cfg.ReplicaLagMax <= 0 {
		cfg.ReplicaLagMax = 30 * time.Second
	}
	if cfg.ReplicaHWCheckpointInterval <= 0 {
		cfg.ReplicaHWCheckpointInterval = 5 * time.Second
	}
	if cfg.ReplicaFetchers <= 0 {
		cfg.ReplicaFetchers = 2
	}
	if cfg.PreferredLeaderInterval == 0 {
		cfg.PreferredLeaderInterval = 30 * time.Second
	}
	if cfg.ControlledShutdownTimeout == 0 {
		cfg.ControlledShutdownTimeout = 30 * time.Second
	}
	cfg = cfg.WithDurability()
	cfg.Config = cfg.Config.Defaults()
	return cfg
}

// WithDurability fills in the default durability for the run mode:
// page-cache for a ZooKeeper cluster member (Kafka's model: replication
// protects acknowledged data, the OS flushes it), else the broker's
// default, fsync (a single node has no replica to protect acknowledged
// data); see broker.Config.WithDurability.
func (cfg Config) WithDurability() Config {
	if cfg.Durability == "" && cfg.ZooKeeper != "" {
		cfg.Durability = broker.DurabilityPageCache
	}
	cfg.Config = cfg.Config.WithDurability()
	return cfg
}
