package cluster

import (
	"log/slog"
	"math"
	"strconv"

	"github.com/sluicemq/sluice/core/meta"
)

// The replication throttles' rates as dynamic broker configs, as in Kafka:
// a broker's own entity (/config/brokers/<id>) overrides the cluster-wide
// default (/config/brokers/<default>), which overrides the serve flag.
const (
	LeaderThrottledRateConfig   = "leader.replication.throttled.rate"
	FollowerThrottledRateConfig = "follower.replication.throttled.rate"
)

// RateSource says where an effective rate comes from.
type RateSource int8

const (
	RateStatic         RateSource = iota // the serve flag (or unlimited)
	RateDynamicBroker                    // this broker's own entity
	RateDynamicDefault                   // the cluster-wide default entity
)

// EffectiveRate is config name's rate from own, else def, else static;
// values are validated when written, so one that does not parse (written
// by another tool) is skipped.
func EffectiveRate(name string, own, def map[string]string, static int64) (int64, RateSource) {
	if v, err := strconv.ParseInt(own[name], 10, 64); err == nil && v > 0 {
		return unlimitedAsZero(v), RateDynamicBroker
	}
	if v, err := strconv.ParseInt(def[name], 10, 64); err == nil && v > 0 {
		return unlimitedAsZero(v), RateDynamicDefault
	}
	return static, RateStatic
}

// unlimitedAsZero maps Kafka's "unlimited" (Long.MaxValue, the configs'
// default there) to the throttles' 0.
func unlimitedAsZero(v int64) int64 {
	if v == math.MaxInt64 {
		return 0
	}
	return v
}

// FollowThrottleConfigs keeps leader's and follower's rates at the dynamic
// broker configs of broker self until the returned stop is called. A store
// without dynamic broker configs leaves the static rates; stop waits for
// the loop to end.
func FollowThrottleConfigs(store meta.Store, self int32, leader, follower *Throttle, log *slog.Logger) (stop func()) {
	bs, ok := store.(meta.BrokerConfigStore)
	if !ok || leader == nil || follower == nil {
		return func() {}
	}
	if log == nil {
		log = slog.Default()
	}
	done, ended := make(chan struct{}), make(chan struct{})
	apply := func() {
		own, err1 := bs.BrokerConfigs(meta.BrokerEntity(self))
		def, err2 := bs.BrokerConfigs(meta.DefaultBrokerEntity)
		if err1 != nil || err2 != nil {
			log.Warn("reading dynamic broker configs failed; keeping the throttles as they are", "err", err1, "default_err", err2)
			return
		}
		for _, x := range []struct {
			name string
			th   *Throttle
		}{{LeaderThrottledRateConfig, leader}, {FollowerThrottledRateConfig, follower}} {
			rate, _ := EffectiveRate(x.name, own, def, x.th.StaticRate())
			if rate != x.th.Rate() {
				x.th.SetRate(rate)
				log.Info("replication throttle rate changed", "config", x.name, "bytes_per_sec", rate)
			}
		}
	}
	go func() {
		defer close(ended)
		for {
			ch := store.Changes()
			apply()
			select {
			case <-ch:
			case <-done:
				return
			}
		}
	}()
	return func() {
		select {
		case <-done:
		default:
			close(done)
		}
		<-ended
	}
}
