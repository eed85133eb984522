package broker

import (
	"log/slog"
	"time"

	"github.com/sluicemq/sluice/core/storage"
)

// Config is what the broker core reads: its data dir, id, topic and log
// defaults, groups and background tasks. The listeners, connection limits
// and cluster membership are the node's (node.Config embeds this one).
// Zero values take the default documented on each field (Defaults fills
// them in).
type Config struct {
	// DataDir holds partition logs, metadata and markers. Default "./data".
	DataDir string
	// BrokerID is this broker's node id. Default 0.
	BrokerID int32
	// BrokerRack is this broker's rack (broker.rack; "" none): clients
	// see it in Metadata, and consumer (KIP-848) group assignors prefer
	// giving members partitions with a replica in their rack.
	BrokerRack string

	// DefaultPartitions for auto-created topics and CreateTopics with -1. Default 1.
	DefaultPartitions int32
	// AutoCreateTopics creates unknown topics on Metadata/Produce like Kafka's
	// auto.create.topics.enable. Default true (set via AutoCreateTopicsSet).
	AutoCreateTopics bool
	// AutoCreateTopicsSet marks AutoCreateTopics as explicitly set (so false sticks).
	AutoCreateTopicsSet bool

	// MaxRequestBytes is socket.request.max.bytes: larger requests are refused
	// before they are buffered (by the Kafka listener; the broker reports
	// it in DescribeConfigs). Default 100 MiB.
	MaxRequestBytes int32

	// Log defaults (broker-level log.* settings); topics override them.
	SegmentBytes   int64 // log.segment.bytes, default 1 GiB
	SegmentMs      int64 // log.roll.ms, default 7 days
	RetentionMs    int64 // log.retention.ms, default 7 days; -1 unlimited
	RetentionBytes int64 // log.retention.bytes, default -1
	// Durability decides when a produce is acknowledged (see
	// WithDurability): DurabilityFsync or DurabilityPageCache. Default
	// fsync; a node in a ZooKeeper cluster picks page-cache (Kafka's model:
	// replication protects acknowledged data, the OS flushes it).
	Durability      string
	FlushMessages   int64 // log.flush.interval.messages; 1 = fsync before ack. Default: 1 with DurabilityFsync, else never by count
	FlushMs         int64 // log.flush.interval.ms, default 0 (periodic flusher only)
	MaxMessageBytes int32 // message.max.bytes, default 1 MiB + 12 (1048588)
	// MaxPartitions is the most partitions the cluster may hold, all
	// topics (internal ones included) together: CreateTopics and
	// CreatePartitions (validate_only too) past it are refused with
	// ErrInvalidPartitions before anything is allocated. Default 10,000.
	MaxPartitions int32
	// MaxDecompressedBytes bounds what one compressed batch may inflate to
	// when it is validated on produce or read by the broker. Default 0:
	// 2 × the topic's max.message.bytes, at least 1 MiB.
	MaxDecompressedBytes int

	// MaxOpenSegments bounds the segment data files kept open across all
	// partitions; beyond it the least recently used idle ones are closed
	// (files in use, and active segments, stay open). Default: a quarter
	// of the process's RLIMIT_NOFILE, between 64 and 65536.
	MaxOpenSegments int

	// FlushInterval is how often the background flusher fsyncs dirty logs
	// (Kafka leaves this to the OS; we bound it). Default 1s.
	FlushInterval time.Duration
	// RetentionCheckInterval: log.retention.check.interval.ms. Default 5 min.
	RetentionCheckInterval time.Duration

	// CleanerInterval is how often the log cleaner compacts topics with
	// cleanup.policy=compact (log.cleaner.backoff.ms). Default 15s.
	CleanerInterval time.Duration

	// OffsetsTopicPartitions is the partition count of __consumer_offsets
	// (offsets.topic.num.partitions). Default 50. Fixed once created.
	OffsetsTopicPartitions int32
	// GroupInitialRebalanceDelay holds a new group's first rebalance open
	// so members starting together share a generation
	// (group.initial.rebalance.delay.ms). Default 3s; negative for none.
	GroupInitialRebalanceDelay time.Duration
	// GroupMinSessionTimeout, GroupMaxSessionTimeout bound consumers'
	// session timeouts. Defaults 6s and 30m.
	GroupMinSessionTimeout, GroupMaxSessionTimeout time.Duration
	// GroupConsumerSessionTimeout fences consumer (KIP-848) group members
	// that stop heartbeating (group.consumer.session.timeout.ms, 45s);
	// GroupConsumerHeartbeatInterval is the heartbeat interval they are
	// given (group.consumer.heartbeat.interval.ms, 5s).
	GroupConsumerSessionTimeout, GroupConsumerHeartbeatInterval time.Duration
	// GroupMaxSize caps a group's members, classic (group.max.size) and
	// consumer (group.consumer.max.size) alike: more are refused with
	// GROUP_MAX_SIZE_REACHED. 0: unlimited.
	GroupMaxSize int
	// GroupConsumerMigrationPolicy (group.consumer.migration.policy):
	// disabled, upgrade, downgrade or bidirectional (""), which Empty
	// groups may change between classic and consumer (KIP-848).
	GroupConsumerMigrationPolicy string
	// OffsetsRetention: how long a group's committed offsets outlive its
	// last member, or a memberless group's commit
	// (offsets.retention.minutes). Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval: how often expired offsets are
	// removed (offsets.retention.check.interval.ms). Default 10m.
	OffsetsRetentionCheckInterval time.Duration
	// TransactionMaxTimeout bounds producers' transaction timeouts
	// (transaction.max.timeout.ms); TransactionAbortInterval is how often
	// timed-out transactions are aborted (transaction.abort.timed.out.
	// transaction.cleanup.interval.ms). Zero: 15m and 10s (core/txn).
	TransactionMaxTimeout, TransactionAbortInterval time.Duration
	// TransactionalIDExpiration: transactional ids idle (no transaction
	// open, no state change) this long are removed
	// (transactional.id.expiration.ms); TransactionRemoveExpiredInterval
	// is how often (transaction.remove.expired.transaction.cleanup.
	// interval.ms). Zero: 7 days and 1 h (core/txn).
	TransactionalIDExpiration, TransactionRemoveExpiredInterval time.Duration
	// TransactionStatePartitions is the partition count of
	// __transaction_state when it is created
	// (transaction.state.log.num.partitions). Zero: 50 (core/txn).
	TransactionStatePartitions int32
	// TransactionPartitionVerificationOff turns off KIP-890's check that a
	// partition is in the producer's transaction before its first
	// transactional batch is appended
	// (transaction.partition.verification.enable=false; on by default).
	TransactionPartitionVerificationOff bool

	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Defaults returns cfg with zero fields set to their defaults.
func (cfg Config) Defaults() Config {
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if !cfg.AutoCreateTopicsSet {
		cfg.AutoCreateTopics = true
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 1 << 30
	}
	if cfg.SegmentMs == 0 {
		cfg.SegmentMs = 7 * 24 * 3600 * 1000
	}
	if cfg.RetentionMs == 0 {
		cfg.RetentionMs = 7 * 24 * 3600 * 1000
	}
	if cfg.RetentionBytes == 0 {
		cfg.RetentionBytes = -1
	}
	if cfg.MaxPartitions <= 0 {
		cfg.MaxPartitions = 10000
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1048588
	}
	if cfg.MaxOpenSegments <= 0 {
		cfg.MaxOpenSegments = storage.DefaultMaxOpenSegments()
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 5 * time.Minute
	}
	if cfg.CleanerInterval <= 0 {
		cfg.CleanerInterval = 15 * time.Second
	}
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	if cfg.GroupInitialRebalanceDelay == 0 {
		cfg.GroupInitialRebalanceDelay = 3 * time.Second
	}
	if cfg.GroupMinSessionTimeout <= 0 {
		cfg.GroupMinSessionTimeout = 6 * time.Second
	}
	if cfg.GroupMaxSessionTimeout <= 0 {
		cfg.GroupMaxSessionTimeout = 30 * time.Minute
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg.WithDurability()
}

// Durability modes.
const (
	// DurabilityFsync acknowledges acks=1 and acks=all produces only once
	// their records are fsynced (log.flush.interval.messages=1, with
	// group commit: concurrent producers share fsyncs). Consumers see
	// records once they are fsynced.
	DurabilityFsync = "fsync"
	// DurabilityPageCache acknowledges once the records are in the page
	// cache (Kafka's default): a process crash loses nothing, a power
	// loss or kernel crash may lose what the flusher had not yet written.
	DurabilityPageCache = "page-cache"
)

// WithDurability fills in the default durability (fsync: on its own a
// broker has no replica protecting acknowledged data; node.Config picks
// page-cache for a cluster member before this runs) and, for
// DurabilityFsync, the flush.messages default of 1. Topics can still
// override flush.messages.
func (cfg Config) WithDurability() Config {
	if cfg.Durability == "" {
		cfg.Durability = DurabilityFsync
	}
	if cfg.Durability == DurabilityFsync && cfg.FlushMessages == 0 {
		cfg.FlushMessages = 1
	}
	return cfg
}

// Rack is BrokerRack as the metadata stores carry it (nil: none).
func (c Config) Rack() *string {
	if c.BrokerRack == "" {
		return nil
	}
	r := c.BrokerRack
	return &r
}
