package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/node"
)

// parseServe runs the production flag > env > file > default parsing with a
// silent flag set.
func parseServe(t *testing.T, args ...string) (serveSettings, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseServeArgs(fs, args)
}

func writeConfigFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearServeEnv makes sure no SLUICE_* variable from the developer's shell
// leaks into a test; t.Setenv restores the originals afterwards.
// parseServeLayers parses serve's settings from its three layers: the
// environment variable envName set to env (when env is not empty), a
// config file holding file (when not empty) and the command line args.
func parseServeLayers(t *testing.T, envName, env, file string, args ...string) serveSettings {
	t.Helper()
	clearServeEnv(t)
	if env != "" {
		t.Setenv(envName, env)
	}
	if file != "" {
		args = append([]string{"--config", writeConfigFile(t, file)}, args...)
	}
	s, err := parseServe(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clearServeEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix+"_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func TestServeDefaultsMatchBrokerDefaults(t *testing.T) {
	clearServeEnv(t)
	s, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	want := node.Config{}.Defaults()
	want.Logger = nil
	want.AutoCreateTopicsSet = false
	// Without authentication the listeners default to loopback.
	want.KafkaAddr, want.HTTPAddr = "127.0.0.1:9092", "127.0.0.1:8080"
	if s.broker != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", s.broker, want)
	}
	if s.logLevel != slog.LevelInfo || s.logFormat != logFormatText {
		t.Errorf("log settings = %v %q, want INFO text", s.logLevel, s.logFormat)
	}
}

func TestServePrecedenceFlagOverEnvOverFileOverDefault(t *testing.T) {
	clearServeEnv(t)
	// Each setting is given at a different set of layers; the winner must be
	// the highest layer present.
	file := writeConfigFile(t, `
# every layer below the flag
data-dir /from/file
kafka-addr = 127.0.0.1:1111
broker_id=7
default-partitions 2
log-segment-bytes 5000
log-level warn
`)
	t.Setenv("SLUICE_DATA_DIR", "/from/env")
	t.Setenv("SLUICE_KAFKA_ADDR", "127.0.0.1:2222")
	t.Setenv("SLUICE_BROKER_ID", "8")

	s, err := parseServe(t, "--config", file, "--data-dir", "/from/flag")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data-dir (flag > env > file)", s.broker.DataDir, "/from/flag"},
		{"kafka-addr (env > file)", s.broker.KafkaAddr, "127.0.0.1:2222"},
		{"broker-id (env > file)", s.broker.BrokerID, int32(8)},
		{"default-partitions (file > default)", s.broker.DefaultPartitions, int32(2)},
		{"log-segment-bytes (file > default)", s.broker.SegmentBytes, int64(5000)},
		{"log-level (file > default)", s.logLevel, slog.LevelWarn},
		{"message-max-bytes (default)", s.broker.MaxMessageBytes, int32(1048588)},
		{"log-format (default)", s.logFormat, logFormatText},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestServeConfigFileNamedByEnv(t *testing.T) {
	clearServeEnv(t)
	t.Setenv("SLUICE_CONFIG", writeConfigFile(t, "flush-messages 1\nlog-format json\n"))
	s, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.broker.FlushMessages != 1 || s.logFormat != logFormatJSON {
		t.Errorf("flush-messages=%d log-format=%q, want 1 json", s.broker.FlushMessages, s.logFormat)
	}
}

// TestServeFetchSessionSlots: 0 disables fetch sessions, as in Kafka;
// the default keeps 1,000.
func TestServeFetchSessionSlots(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 1000},
		{[]string{"--fetch-session-cache-slots", "0"}, -1},
		{[]string{"--fetch-session-cache-slots", "-1"}, -1},
		{[]string{"--fetch-session-cache-slots", "5"}, 5},
	} {
		clearServeEnv(t)
		s, err := parseServe(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if s.broker.FetchSessionCacheSlots != tc.want {
			t.Errorf("%v: FetchSessionCacheSlots %d, want %d", tc.args, s.broker.FetchSessionCacheSlots, tc.want)
		}
	}
}

func TestServeAutoCreateTopicsSetOnlyWhenGiven(t *testing.T) {
	cases := []struct {
		name    string
		env     string
		file    string
		args    []string
		wantOn  bool
		wantSet bool
	}{
		{name: "default", wantOn: true, wantSet: false},
		{name: "flag false", args: []string{"--auto-create-topics=false"}, wantOn: false, wantSet: true},
		{name: "env false", env: "false", wantOn: false, wantSet: true},
		{name: "file false", file: "auto-create-topics false\n", wantOn: false, wantSet: true},
		{name: "flag true beats env false", env: "false", args: []string{"--auto-create-topics=true"}, wantOn: true, wantSet: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := parseServeLayers(t, "SLUICE_AUTO_CREATE_TOPICS", tc.env, tc.file, tc.args...)
			if s.broker.AutoCreateTopics != tc.wantOn || s.broker.AutoCreateTopicsSet != tc.wantSet {
				t.Errorf("AutoCreateTopics=%v Set=%v, want %v %v",
					s.broker.AutoCreateTopics, s.broker.AutoCreateTopicsSet, tc.wantOn, tc.wantSet)
			}
		})
	}
}

func TestServeAllFlagsReachConfig(t *testing.T) {
	clearServeEnv(t)
	s, err := parseServe(t,
		"--data-dir", "/d", "--kafka-addr", "127.0.0.1:9", "--advertised-addr", "h:1", "--http-addr", "off",
		"--broker-id", "3", "--default-partitions", "4", "--max-request-bytes", "1000",
		"--log-segment-bytes", "2000", "--log-segment-ms", "-1", "--log-retention-ms", "3000",
		"--log-retention-bytes", "4000", "--flush-messages", "1", "--flush-ms", "50",
		"--message-max-bytes", "900", "--max-open-segments", "300", "--flush-interval", "2s", "--retention-check-interval", "1m",
		"--log-cleaner-interval", "3s", "--offsets-topic-partitions", "7", "--group-initial-rebalance-delay", "0s",
		"--group-min-session-timeout", "1s", "--group-max-session-timeout", "1h",
		"--offsets-retention", "36h", "--offsets-retention-check-interval", "90s",
		"--transaction-max-timeout", "2m", "--transaction-abort-interval", "3s", "--transaction-state-partitions", "5",
		"--transactional-id-expiration", "48h", "--transaction-remove-expired-interval", "5m",
		"--zookeeper", "127.0.0.1:2181/sluice", "--zookeeper-session-timeout", "4s", "--replica-lag-time-max", "5s", "--replica-hw-checkpoint-interval", "7s", "--replica-fetchers", "3",
		"--unclean-leader-election", "--preferred-leader-interval", "-1s",
		"--max-partitions", "500", "--max-connections", "60", "--max-connections-per-ip", "6",
		"--queued-max-request-bytes", "7000", "--max-decoded-request-bytes", "8000", "--max-decompressed-bytes", "9000",
		"--fetch-session-cache-slots", "12", "--metrics-partition-labels",
		"--group-consumer-session-timeout", "20s", "--group-consumer-heartbeat-interval", "2s", "--group-max-size", "40", "--broker-rack", "rack-a", "--group-consumer-migration-policy", "upgrade",
		"--leader-replication-throttled-rate", "1000", "--follower-replication-throttled-rate", "2000",
		"--controlled-shutdown-timeout", "12s",
		"--log-level", "DEBUG", "--log-format", "json",
	)
	if err != nil {
		t.Fatal(err)
	}
	want := node.Config{
		Config: broker.Config{
			DataDir: "/d", BrokerID: 3,
			DefaultPartitions: 4, AutoCreateTopics: true, MaxRequestBytes: 1000,
			SegmentBytes: 2000, SegmentMs: -1, RetentionMs: 3000, RetentionBytes: 4000,
			FlushMessages: 1, FlushMs: 50, MaxMessageBytes: 900, MaxOpenSegments: 300,
			FlushInterval: 2 * time.Second, RetentionCheckInterval: time.Minute,
			CleanerInterval: 3 * time.Second, OffsetsTopicPartitions: 7, GroupInitialRebalanceDelay: -1,
			GroupMinSessionTimeout: time.Second, GroupMaxSessionTimeout: time.Hour,
			OffsetsRetention: 36 * time.Hour, OffsetsRetentionCheckInterval: 90 * time.Second,
			Durability:    "fsync", // --flush-messages 1 without --durability
			MaxPartitions: 500, MaxDecompressedBytes: 9000,
			TransactionMaxTimeout: 2 * time.Minute, TransactionAbortInterval: 3 * time.Second, TransactionStatePartitions: 5,
			TransactionalIDExpiration: 48 * time.Hour, TransactionRemoveExpiredInterval: 5 * time.Minute,
			GroupConsumerSessionTimeout: 20 * time.Second, GroupConsumerHeartbeatInterval: 2 * time.Second,
			GroupMaxSize: 40, BrokerRack: "rack-a", GroupConsumerMigrationPolicy: "upgrade",
		},
		LeaderReplicationThrottledRate: 1000, FollowerReplicationThrottledRate: 2000, ControlledShutdownTimeout: 12 * time.Second,
		KafkaAddr: "127.0.0.1:9", AdvertisedAddr: "h:1", HTTPAddr: "off",
		ZooKeeper: "127.0.0.1:2181/sluice", ZooKeeperSessionTimeout: 4 * time.Second, ReplicaLagMax: 5 * time.Second, ReplicaHWCheckpointInterval: 7 * time.Second, ReplicaFetchers: 3,
		UncleanLeaderElection: true, PreferredLeaderInterval: -time.Second,
		MaxConnections: 60, MaxConnectionsPerIP: 6,
		QueuedMaxRequestBytes: 7000, MaxDecodedRequestBytes: 8000,
		FetchSessionCacheSlots: 12, MetricsPartitionLabels: true,
	}
	if s.broker != want {
		t.Errorf("config:\n got %+v\nwant %+v", s.broker, want)
	}
	if s.logLevel != slog.LevelDebug || s.logFormat != logFormatJSON {
		t.Errorf("log settings = %v %q, want DEBUG json", s.logLevel, s.logFormat)
	}
}

func TestServeRejectsBadValues(t *testing.T) {
	cases := []struct {
		args     []string
		wantFlag string // for *invalidFlagError; "" means a parse error
		wantText string
	}{
		{[]string{"--log-level", "verbose"}, "log-level", `invalid value "verbose" for --log-level`},
		{[]string{"--log-format", "xml"}, "log-format", `invalid value "xml" for --log-format`},
		{[]string{"--default-partitions", "0"}, "default-partitions", "must be positive"},
		{[]string{"--log-retention-ms", "0"}, "log-retention-ms", "must be positive or -1"},
		{[]string{"--log-retention-bytes", "-2"}, "log-retention-bytes", "must be positive or -1"},
		{[]string{"--broker-id", "-1"}, "broker-id", "must not be negative"},
		{[]string{"--flush-interval", "0s"}, "flush-interval", `invalid value "0s"`},
		{[]string{"--broker-id", "3000000000"}, "", "value out of range"},
		{[]string{"--broker-id", "8388608"}, "broker-id", "must be at most 8388607"},
		{[]string{"--no-such-flag"}, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"--max-open-segments", "0"}, "max-open-segments", "must be positive"},
		{[]string{"--group-max-size", "-1"}, "group-max-size", "must not be negative"},
		{[]string{"--group-consumer-migration-policy", "sideways"}, "group-consumer-migration-policy", "want disabled, upgrade, downgrade or bidirectional"},
		{[]string{"--offsets-retention", "0s"}, "offsets-retention", `invalid value "0s"`},
		{[]string{"--offsets-retention-check-interval", "-1m"}, "offsets-retention-check-interval", "must be positive"},
		{[]string{"--durability", "sometimes"}, "durability", "want fsync or page-cache"},
		{[]string{"--durability", "fsync", "--flush-messages", "5"}, "flush-messages", "--durability fsync fsyncs every produce"},
		{[]string{"--durability", "page-cache", "--flush-messages", "1"}, "flush-messages", "is --durability fsync"},
		{[]string{"extra"}, "", `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			clearServeEnv(t)
			_, err := parseServe(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
			var ife *invalidFlagError
			if got := errors.As(err, &ife); got != (tc.wantFlag != "") || (got && ife.flag != tc.wantFlag) {
				t.Errorf("error %v: invalidFlagError=%v (%+v), want flag %q", err, got, ife, tc.wantFlag)
			}
		})
	}
}

func TestServeBadEnvAndFileValuesAreReported(t *testing.T) {
	clearServeEnv(t)
	t.Setenv("SLUICE_BROKER_ID", "abc")
	if _, err := parseServe(t); err == nil || !strings.Contains(err.Error(), `"SLUICE_BROKER_ID"`) {
		t.Errorf("bad env: err = %v, want it to name SLUICE_BROKER_ID", err)
	}

	clearServeEnv(t)
	file := writeConfigFile(t, "data-dir /x\nretention-hours 5\n")
	_, err := parseServe(t, "--config", file)
	var le *configLineError
	if !errors.As(err, &le) || le.line != 2 || !strings.Contains(err.Error(), `"retention-hours" not defined`) {
		t.Errorf("unknown key: err = %v, want line 2 naming retention-hours", err)
	}

	if _, err := parseServe(t, "--config", filepath.Join(t.TempDir(), "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
}

// The durability default depends on the mode: fsync before acknowledging
// on a single node, page cache (Kafka's model) with ZooKeeper; an explicit
// --flush-messages without --durability keeps its old meaning.
func TestServeDurability(t *testing.T) {
	cases := []struct {
		args       []string
		durability string
		flush      int64
	}{
		{nil, "fsync", 1},
		{[]string{"--zookeeper", "127.0.0.1:2181"}, "page-cache", 0},
		{[]string{"--durability", "page-cache"}, "page-cache", 0},
		{[]string{"--durability", "page-cache", "--flush-messages", "1000"}, "page-cache", 1000},
		{[]string{"--durability", "fsync", "--zookeeper", "127.0.0.1:2181"}, "fsync", 1},
		{[]string{"--flush-messages", "0"}, "page-cache", 0},
		{[]string{"--flush-messages", "1", "--zookeeper", "127.0.0.1:2181"}, "fsync", 1},
		{[]string{"--flush-messages", "500"}, "page-cache", 500},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			clearServeEnv(t)
			s, err := parseServe(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if s.broker.Durability != tc.durability || s.broker.FlushMessages != tc.flush {
				t.Errorf("durability %q flush-messages %d, want %q %d", s.broker.Durability, s.broker.FlushMessages, tc.durability, tc.flush)
			}
			if again := s.broker.Defaults(); again.Durability != tc.durability || again.FlushMessages != tc.flush {
				t.Errorf("broker defaults changed it to %q %d", again.Durability, again.FlushMessages)
			}
		})
	}
	clearServeEnv(t)
	t.Setenv("SLUICE_DURABILITY", "page-cache")
	if s, err := parseServe(t); err != nil || s.broker.Durability != "page-cache" || s.broker.FlushMessages != 0 {
		t.Errorf("SLUICE_DURABILITY=page-cache: %+v, %v", s.broker, err)
	}
}
