package broker

import (
	"strconv"
	"strings"
)

// The replication throttle's topic configs, as in Kafka: which replicas
// of the topic count against the brokers' throttled rates (`sluice serve
// --follower-replication-throttled-rate`, core/cluster/throttle.go, and
// --leader-replication-throttled-rate, core/kafka/replication_throttle.go). `sluice topic reassign
// --throttle` sets them for the replicas a move adds.
func init() {
	for _, d := range []topicConfigDef{
		{name: "leader.replication.throttled.replicas", kind: kindThrottledReplicas,
			doc: "replicas (partition:broker list, or *) whose reads by out-of-sync followers count against leader.replication.throttled.rate",
			def: func(*Config) string { return "" }},
		{name: "follower.replication.throttled.replicas", kind: kindThrottledReplicas,
			doc: "replicas (partition:broker list, or *) whose follower fetches count against follower.replication.throttled.rate",
			def: func(*Config) string { return "" }},
	} {
		topicConfigDefs[d.name] = d
	}
}

// validThrottledReplicas accepts "", "*" or a comma-separated list of
// partition:broker pairs of non-negative integers.
func validThrottledReplicas(name, value string) error {
	v := strings.TrimSpace(value)
	if v == "" || v == "*" {
		return nil
	}
	for _, e := range strings.Split(v, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(e), ":")
		p, err1 := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, err2 := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if !ok || err1 != nil || err2 != nil || p < 0 || b < 0 {
			return &ConfigError{Name: name, Value: value, Reason: "must be * or a list of partition:broker"}
		}
	}
	return nil
}
