package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/node"
	"github.com/sluicemq/sluice/wasm"
)

// logFormat selects the slog handler.
type logFormat string

const (
	logFormatText logFormat = "text"
	logFormatJSON logFormat = "json"
)

// logLevels are the accepted --log-level values. slog would also parse
// offsets like "info+2"; we keep the documented four.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// serveSettings is the parsed and validated `sluice serve` configuration.
type serveSettings struct {
	broker    node.Config   // Logger is left nil; serve builds it
	bridge    bridge.Config // from --bridge-config, plus --examples-dir
	node      node.Options  // HTTP security (admin API, TLS); Bridge unset
	plugins   wasm.Config   // --plugin-* limits
	logLevel  slog.Level
	logFormat logFormat
}

// invalidFlagError reports a flag value that parsed but is not allowed.
type invalidFlagError struct {
	flag   string
	value  string
	reason string
}

func (e *invalidFlagError) Error() string {
	return fmt.Sprintf("invalid value %q for --%s: %s", e.value, e.flag, e.reason)
}

// serveFlags binds every `sluice serve` flag to its destination.
type serveFlags struct {
	fs *flag.FlagSet

	configFile   string
	cfg          node.Config
	bridgeConfig string
	examplesDir  string
	logLevel     string
	logFormat    string
	httpSec      httpSecurityFlags
	security     *securityFlags
	authorizer   string
	superUsers   string
	plugins      *pluginFlags
	zkSec        zkSecurityFlags
}

// newServeFlags defines the serve flags on fs. Defaults come from
// node.Config.Defaults so help output and behaviour cannot drift apart.
func newServeFlags(fs *flag.FlagSet) *serveFlags {
	d := node.Config{}.Defaults()
	sf := &serveFlags{fs: fs}
	c := &sf.cfg

	fs.StringVar(&sf.configFile, "config", "", "read `FILE` of \"flag value\" lines (see README)")
	fs.StringVar(&c.DataDir, "data-dir", d.DataDir, "directory for partition logs and metadata")
	fs.StringVar(&c.KafkaAddr, "kafka-addr", "", "Kafka protocol listen address (host:port); default 127.0.0.1:9092, or :9092 when clients must authenticate")
	fs.StringVar(&c.AdvertisedAddr, "advertised-addr", "", "`HOST:PORT` given to clients in Metadata (default: the bound address, 127.0.0.1 if bound to all interfaces)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "HTTP listen address (HTTP bridge, plugin admin API); \"off\" disables it; default 127.0.0.1:8080")
	int32Var(fs, &c.BrokerID, "broker-id", d.BrokerID, "this broker's node id")
	int32Var(fs, &c.DefaultPartitions, "default-partitions", d.DefaultPartitions, "partitions of auto-created topics and of CreateTopics asking for -1")
	fs.BoolVar(&c.AutoCreateTopics, "auto-create-topics", d.AutoCreateTopics, "create unknown topics on Metadata/Produce (auto.create.topics.enable)")
	int32Var(fs, &c.MaxRequestBytes, "max-request-bytes", d.MaxRequestBytes, "largest accepted request in bytes (socket.request.max.bytes)")
	int32Var(fs, &c.MaxPartitions, "max-partitions", d.MaxPartitions, "most partitions the cluster may hold; CreateTopics/CreatePartitions past it get INVALID_PARTITIONS")
	fs.IntVar(&c.MaxConnections, "max-connections", d.MaxConnections, "most open Kafka connections; more are closed on accept (max.connections)")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", d.MaxConnectionsPerIP, "most open Kafka connections from one IP address (max.connections.per.ip)")
	fs.Int64Var(&c.QueuedMaxRequestBytes, "queued-max-request-bytes", d.QueuedMaxRequestBytes, "bytes of requests being read and handled across connections; readers wait past it (queued.max.request.bytes)")
	fs.Int64Var(&c.MaxDecodedRequestBytes, "max-decoded-request-bytes", d.MaxDecodedRequestBytes, "refuse a request whose decoded form would take more memory, estimated before decoding")
	fs.IntVar(&c.MaxDecompressedBytes, "max-decompressed-bytes", 0, "most one compressed batch may inflate to when validated or read; 0 = 2 x the topic's max.message.bytes (at least 1 MiB)")
	fs.IntVar(&c.FetchSessionCacheSlots, "fetch-session-cache-slots", d.FetchSessionCacheSlots, "most incremental fetch sessions (KIP-227) kept; 0 disables them (max.incremental.fetch.session.cache.slots)")
	fs.BoolVar(&c.MetricsPartitionLabels, "metrics-partition-labels", false, "label log size, segment and consumer lag metrics by partition, not only by topic (one series per partition: mind the cardinality)")
	fs.BoolVar(&c.DisableSendfile, "disable-sendfile", false, "copy fetched data through user space instead of sendfile(2), as TLS must (for benchmarks and debugging)")
	fs.Int64Var(&c.SegmentBytes, "log-segment-bytes", d.SegmentBytes, "roll a segment at this size (log.segment.bytes)")
	fs.Int64Var(&c.SegmentMs, "log-segment-ms", d.SegmentMs, "roll a segment this old, -1 never (log.roll.ms)")
	fs.Int64Var(&c.RetentionMs, "log-retention-ms", d.RetentionMs, "delete segments older than this, -1 unlimited (log.retention.ms)")
	fs.Int64Var(&c.RetentionBytes, "log-retention-bytes", d.RetentionBytes, "delete old segments while a partition is larger, -1 unlimited (log.retention.bytes)")
	fs.StringVar(&c.Durability, "durability", "", "when produces are acknowledged: \"fsync\" (after fsync, group commit; the default on a single node) or \"page-cache\" (once in the page cache, Kafka's default; the default with --zookeeper)")
	fs.Int64Var(&c.FlushMessages, "flush-messages", 0, "fsync after this many messages (log.flush.interval.messages); 1 = fsync before ack, as --durability fsync; default: 1 with --durability fsync, else 0 = never by count")
	fs.Int64Var(&c.FlushMs, "flush-ms", d.FlushMs, "fsync unflushed data at least this often in ms; 0 = only the flush interval (log.flush.interval.ms)")
	fs.IntVar(&c.MaxOpenSegments, "max-open-segments", d.MaxOpenSegments, "segment files kept open across all partitions; least recently used idle ones are closed beyond it (default: a quarter of the fd limit)")
	int32Var(fs, &c.MaxMessageBytes, "message-max-bytes", d.MaxMessageBytes, "largest accepted record batch in bytes (message.max.bytes)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", d.FlushInterval, "how often the background flusher fsyncs dirty logs")
	fs.DurationVar(&c.RetentionCheckInterval, "retention-check-interval", d.RetentionCheckInterval, "how often retention runs (log.retention.check.interval.ms)")
	fs.DurationVar(&c.CleanerInterval, "log-cleaner-interval", d.CleanerInterval, "how often compacted topics are cleaned (log.cleaner.backoff.ms)")
	int32Var(fs, &c.OffsetsTopicPartitions, "offsets-topic-partitions", d.OffsetsTopicPartitions, "partitions of __consumer_offsets (offsets.topic.num.partitions), fixed once created")
	fs.DurationVar(&c.GroupInitialRebalanceDelay, "group-initial-rebalance-delay", d.GroupInitialRebalanceDelay, "hold a new group's first rebalance open this long, 0 for none (group.initial.rebalance.delay.ms)")
	fs.DurationVar(&c.GroupMinSessionTimeout, "group-min-session-timeout", d.GroupMinSessionTimeout, "smallest consumer session timeout accepted (group.min.session.timeout.ms)")
	fs.DurationVar(&c.GroupMaxSessionTimeout, "group-max-session-timeout", d.GroupMaxSessionTimeout, "largest consumer session timeout accepted (group.max.session.timeout.ms)")
	fs.DurationVar(&c.GroupConsumerSessionTimeout, "group-consumer-session-timeout", 0, "consumer (KIP-848) group members are fenced after missing heartbeats this long (group.consumer.session.timeout.ms; 0: 45s)")
	fs.DurationVar(&c.GroupConsumerHeartbeatInterval, "group-consumer-heartbeat-interval", 0, "heartbeat interval given to consumer (KIP-848) group members (group.consumer.heartbeat.interval.ms; 0: 5s)")
	fs.StringVar(&c.BrokerRack, "broker-rack", "", "this broker's rack (broker.rack): shown to clients, and consumer (KIP-848) group members declaring a rack are preferably assigned partitions with a replica in it")
	fs.StringVar(&c.GroupConsumerMigrationPolicy, "group-consumer-migration-policy", "", "which Empty groups change kind: disabled, upgrade (classic to consumer on a ConsumerGroupHeartbeat), downgrade (consumer to classic on a JoinGroup) or bidirectional (group.consumer.migration.policy; default bidirectional; groups with members never change)")
	fs.IntVar(&c.GroupMaxSize, "group-max-size", 0, "most members of a group, classic or consumer (KIP-848); more get GROUP_MAX_SIZE_REACHED (group.max.size, group.consumer.max.size; 0: unlimited)")
	fs.DurationVar(&c.OffsetsRetention, "offsets-retention", d.OffsetsRetention, "committed offsets expire this long after their group became empty, or after their commit for groups that never had members (offsets.retention.minutes)")
	fs.DurationVar(&c.OffsetsRetentionCheckInterval, "offsets-retention-check-interval", d.OffsetsRetentionCheckInterval, "how often expired offsets and empty groups are removed (offsets.retention.check.interval.ms)")
	fs.DurationVar(&c.TransactionMaxTimeout, "transaction-max-timeout", 0, "largest transaction timeout a producer may ask for (transaction.max.timeout.ms; 0: 15m)")
	int32Var(fs, &c.TransactionStatePartitions, "transaction-state-partitions", 0, "partitions of __transaction_state (transaction.state.log.num.partitions; 0: 50), fixed once created")
	fs.DurationVar(&c.TransactionalIDExpiration, "transactional-id-expiration", 0, "transactional ids with no transaction open and no state change for this long are removed (transactional.id.expiration.ms; 0: 7 days)")
	fs.DurationVar(&c.TransactionRemoveExpiredInterval, "transaction-remove-expired-interval", 0, "how often expired transactional ids are removed (transaction.remove.expired.transaction.cleanup.interval.ms; 0: 1h)")
	fs.BoolFunc("transaction-partition-verification-enable", "check with the transaction coordinator that a partition is in the producer's transaction before appending the producer's first transactional batch there (KIP-890; transaction.partition.verification.enable; default true)", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.TransactionPartitionVerificationOff = !on
		return err
	})
	fs.DurationVar(&c.TransactionAbortInterval, "transaction-abort-interval", 0, "how often transactions open past their timeout are aborted (transaction.abort.timed.out.transaction.cleanup.interval.ms; 0: 10s)")
	fs.StringVar(&c.ZooKeeper, "zookeeper", "", "join a cluster through ZooKeeper: `HOST:PORT[,HOST:PORT...][/CHROOT]`; empty runs the embedded single-node store")
	fs.DurationVar(&c.ZooKeeperSessionTimeout, "zookeeper-session-timeout", d.ZooKeeperSessionTimeout, "ZooKeeper session timeout (zookeeper.session.timeout.ms)")
	fs.DurationVar(&c.ReplicaLagMax, "replica-lag-time-max", d.ReplicaLagMax, "followers that have not caught up for this long leave the ISR (replica.lag.time.max.ms)")
	fs.Int64Var(&c.LeaderReplicationThrottledRate, "leader-replication-throttled-rate", 0, "bytes/s this broker sends as leader to out-of-sync followers of the replicas a topic's leader.replication.throttled.replicas names, 0 unlimited (leader.replication.throttled.rate)")
	fs.Int64Var(&c.FollowerReplicationThrottledRate, "follower-replication-throttled-rate", 0, "bytes/s this broker fetches as a follower for the replicas a topic's follower.replication.throttled.replicas names, 0 unlimited (follower.replication.throttled.rate)")
	fs.DurationVar(&c.ReplicaHWCheckpointInterval, "replica-hw-checkpoint-interval", d.ReplicaHWCheckpointInterval, "how often high watermarks are checkpointed to the data dir (replica.high.watermark.checkpoint.interval.ms)")
	fs.IntVar(&c.ReplicaFetchers, "replica-fetchers", d.ReplicaFetchers, "fetchers per leader a follower runs, each with its own connection (num.replica.fetchers)")
	fs.BoolVar(&c.UncleanLeaderElection, "unclean-leader-election", false, "let out-of-sync replicas lead when no in-sync replica is alive (unclean.leader.election.enable)")
	fs.DurationVar(&c.PreferredLeaderInterval, "preferred-leader-interval", d.PreferredLeaderInterval, "how often leadership moves back to preferred replicas, negative disables (leader.imbalance.check.interval)")
	fs.DurationVar(&c.ControlledShutdownTimeout, "controlled-shutdown-timeout", d.ControlledShutdownTimeout, "on SIGTERM a cluster member waits this long for the controller to move its leaderships away before it stops; negative disables (controlled.shutdown.enable)")
	fs.StringVar(&sf.bridgeConfig, "bridge-config", "", "JSON `FILE` of HTTP bridge settings: auth tokens, CORS origins, public topics, limits (docs/http-api.md)")
	fs.StringVar(&sf.examplesDir, "examples-dir", "", "serve this `DIR` under /examples/ on the HTTP listener (the web-tracking demo pages)")
	fs.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&sf.logFormat, "log-format", string(logFormatText), "log format: text or json")
	sf.httpSec.register(fs)
	sf.security = addSecurityFlags(fs)
	addAuthzFlags(fs, sf)
	sf.plugins = newPluginFlags(fs)
	sf.zkSec.register(fs)
	return sf
}

// serveParseOptions makes ff read SLUICE_* variables and the --config file,
// in that order after the command line: flag > env > file > default.
func serveParseOptions() []ff.Option {
	return []ff.Option{
		ff.WithEnvVarPrefix(envPrefix),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(parseConfigFile),
	}
}

// parseServeArgs parses serve's command line plus environment and config
// file, exactly as `sluice serve` does.
func parseServeArgs(fs *flag.FlagSet, args []string) (serveSettings, error) {
	sf := newServeFlags(fs)
	if err := ff.Parse(fs, args, serveParseOptions()...); err != nil {
		return serveSettings{}, err
	}
	if fs.NArg() > 0 {
		return serveSettings{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return sf.settings()
}

// settings validates the parsed flags. Call after parsing.
func (sf *serveFlags) settings() (serveSettings, error) {
	cfg := sf.cfg
	var durabilitySet, flushSet bool
	sf.fs.Visit(func(f *flag.Flag) {
		// Visit covers values from env and config file too (ff sets them
		// through the flag set), so an explicit "false" anywhere sticks.
		switch f.Name {
		case "auto-create-topics":
			cfg.AutoCreateTopicsSet = true
		case "durability":
			durabilitySet = true
		case "flush-messages":
			flushSet = true
		}
	})
	if flushSet && !durabilitySet {
		// Before --durability, --flush-messages alone chose: keep that.
		cfg.Durability = broker.DurabilityPageCache
		if cfg.FlushMessages == 1 {
			cfg.Durability = broker.DurabilityFsync
		}
	}

	level, ok := logLevels[strings.ToLower(sf.logLevel)]
	if !ok {
		return serveSettings{}, &invalidFlagError{"log-level", sf.logLevel, "want debug, info, warn or error"}
	}
	format := logFormat(strings.ToLower(sf.logFormat))
	if format != logFormatText && format != logFormatJSON {
		return serveSettings{}, &invalidFlagError{"log-format", sf.logFormat, "want text or json"}
	}
	if cfg.GroupInitialRebalanceDelay <= 0 {
		// An explicit 0 means no delay; node.Config reserves 0 for
		// "default", so say it with a negative duration.
		cfg.GroupInitialRebalanceDelay = -1
	}
	if cfg.FetchSessionCacheSlots <= 0 {
		// An explicit 0 disables fetch sessions, as Kafka's
		// max.incremental.fetch.session.cache.slots=0 does; node.Config
		// reserves 0 for "default" and says "disabled" with -1.
		cfg.FetchSessionCacheSlots = -1
	}
	if err := validateBrokerConfig(cfg); err != nil {
		return serveSettings{}, err
	}
	cfg = cfg.WithDurability()
	var bcfg bridge.Config
	if sf.bridgeConfig != "" {
		var err error
		if bcfg, err = bridge.LoadConfigFile(sf.bridgeConfig); err != nil {
			return serveSettings{}, &invalidFlagError{"bridge-config", sf.bridgeConfig, err.Error()}
		}
	}
	if sf.examplesDir != "" {
		bcfg.ExamplesDir = sf.examplesDir
	}
	nopts, err := sf.httpSec.options()
	if err != nil {
		return serveSettings{}, err
	}
	sasl := strings.HasPrefix(strings.ToUpper(sf.security.sec.Protocol), "SASL")
	sec, err := sf.security.settings(&cfg.KafkaAddr, &cfg.HTTPAddr, httpDoorsAuthenticated(len(bcfg.Tokens), nopts.Admin, sasl))
	if err != nil {
		return serveSettings{}, err
	}
	nopts.Security = sec
	if nopts.AuthorizerKind, nopts.SuperUsers, err = sf.authzSettings(); err != nil {
		return serveSettings{}, err
	}
	pcfg, err := sf.plugins.config()
	if err != nil {
		return serveSettings{}, err
	}
	if nopts.PluginKeepVersions, err = sf.plugins.keep(); err != nil {
		return serveSettings{}, err
	}
	if nopts.ZooKeeperSecurity, err = sf.zkSec.settings(cfg.ZooKeeper); err != nil {
		return serveSettings{}, err
	}
	return serveSettings{broker: cfg, bridge: bcfg, node: nopts, plugins: pcfg, logLevel: level, logFormat: format}, nil
}

// validateBrokerConfig rejects values that node.Config.Defaults would
// silently replace (zero or negative where only positive makes sense), so a
// typo does not quietly become a default.
func validateBrokerConfig(c node.Config) error {
	positive := []struct {
		flag  string
		value int64
	}{
		{"default-partitions", int64(c.DefaultPartitions)},
		{"max-request-bytes", int64(c.MaxRequestBytes)},
		{"log-segment-bytes", c.SegmentBytes},
		{"message-max-bytes", int64(c.MaxMessageBytes)},
		{"max-open-segments", int64(c.MaxOpenSegments)},
		{"max-partitions", int64(c.MaxPartitions)},
		{"max-connections", int64(c.MaxConnections)},
		{"max-connections-per-ip", int64(c.MaxConnectionsPerIP)},
		{"queued-max-request-bytes", c.QueuedMaxRequestBytes},
		{"max-decoded-request-bytes", c.MaxDecodedRequestBytes},
	}
	for _, p := range positive {
		if p.value <= 0 {
			return &invalidFlagError{p.flag, fmt.Sprint(p.value), "must be positive"}
		}
	}
	positiveOrUnlimited := []struct {
		flag  string
		value int64
	}{
		{"log-segment-ms", c.SegmentMs},
		{"log-retention-ms", c.RetentionMs},
		{"log-retention-bytes", c.RetentionBytes},
	}
	for _, p := range positiveOrUnlimited {
		if p.value <= 0 && p.value != -1 {
			return &invalidFlagError{p.flag, fmt.Sprint(p.value), "must be positive or -1"}
		}
	}
	if c.CleanerInterval <= 0 {
		return &invalidFlagError{"log-cleaner-interval", c.CleanerInterval.String(), "must be positive"}
	}
	if c.OffsetsTopicPartitions <= 0 {
		return &invalidFlagError{"offsets-topic-partitions", fmt.Sprint(c.OffsetsTopicPartitions), "must be positive"}
	}
	if c.GroupMinSessionTimeout <= 0 || c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout {
		return &invalidFlagError{"group-min-session-timeout", c.GroupMinSessionTimeout.String(), "must be positive and at most --group-max-session-timeout"}
	}
	if c.OffsetsRetention <= 0 {
		return &invalidFlagError{"offsets-retention", c.OffsetsRetention.String(), "must be positive"}
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		return &invalidFlagError{"offsets-retention-check-interval", c.OffsetsRetentionCheckInterval.String(), "must be positive"}
	}
	if c.FlushInterval <= 0 {
		return &invalidFlagError{"flush-interval", c.FlushInterval.String(), "must be positive"}
	}
	if c.RetentionCheckInterval <= 0 {
		return &invalidFlagError{"retention-check-interval", c.RetentionCheckInterval.String(), "must be positive"}
	}
	if c.BrokerID < 0 {
		return &invalidFlagError{"broker-id", fmt.Sprint(c.BrokerID), "must not be negative"}
	}
	if c.BrokerID > broker.MaxBrokerID {
		return &invalidFlagError{"broker-id", fmt.Sprint(c.BrokerID), fmt.Sprintf("must be at most %d (producer ids carry it in 23 bits)", broker.MaxBrokerID)}
	}
	if c.FlushMessages < 0 {
		return &invalidFlagError{"flush-messages", fmt.Sprint(c.FlushMessages), "must not be negative"}
	}
	if err := group.ValidMigrationPolicy(c.GroupConsumerMigrationPolicy); err != nil {
		return &invalidFlagError{"group-consumer-migration-policy", c.GroupConsumerMigrationPolicy, err.Error()}
	}
	if c.GroupMaxSize < 0 {
		return &invalidFlagError{"group-max-size", fmt.Sprint(c.GroupMaxSize), "must not be negative"}
	}
	switch {
	case c.Durability != "" && c.Durability != broker.DurabilityFsync && c.Durability != broker.DurabilityPageCache:
		return &invalidFlagError{"durability", c.Durability, "want fsync or page-cache"}
	case c.Durability == broker.DurabilityFsync && c.FlushMessages > 1:
		return &invalidFlagError{"flush-messages", fmt.Sprint(c.FlushMessages), "--durability fsync fsyncs every produce (1); use --durability page-cache to fsync by count"}
	case c.Durability == broker.DurabilityPageCache && c.FlushMessages == 1:
		return &invalidFlagError{"flush-messages", "1", "fsyncing every produce is --durability fsync, not page-cache"}
	}
	if c.FlushMs < 0 {
		return &invalidFlagError{"flush-ms", fmt.Sprint(c.FlushMs), "must not be negative"}
	}
	return nil
}
