package kafka

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/meta"
)

// Dynamic broker configs (DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs on a BROKER resource). As in Kafka, the resource
// name is this broker's id (admin clients send it to that broker) or empty
// for the cluster-wide default; values live in the metadata store
// (meta.BrokerConfigStore: /config/brokers/<id> and /config/brokers/<default>
// in ZooKeeper) and every broker applies its own and the default live
// (cluster.FollowThrottleConfigs). Only the replication throttle rates are
// dynamic; the other broker configs stay static (flags, env, config file).

// dynamicBrokerConfigs are the broker configs that may be altered, with
// their documentation.
var dynamicBrokerConfigs = map[string]string{
	cluster.LeaderThrottledRateConfig:   "bytes/s this broker sends as leader to out-of-sync followers of the replicas a topic's leader.replication.throttled.replicas names",
	cluster.FollowerThrottledRateConfig: "bytes/s this broker fetches as a follower for the replicas a topic's follower.replication.throttled.replicas names",
}

// brokerEntity maps a BROKER resource name to its store entity: "" is the
// default, otherwise it must be this broker's id (INVALID_REQUEST, as
// Kafka answers a broker asked about another).
func (c *conn) brokerEntity(name string) (string, error) {
	switch name {
	case "":
		return meta.DefaultBrokerEntity, nil
	case strconv.Itoa(int(c.s.b.ID())):
		return name, nil
	}
	return "", fmt.Errorf("%w: unexpected broker id %q: this is broker %d", kerr.InvalidRequest, name, c.s.b.ID())
}

func (c *conn) brokerConfigStore() (meta.BrokerConfigStore, error) {
	bs, ok := c.s.b.Store().(meta.BrokerConfigStore)
	if !ok {
		return nil, fmt.Errorf("%w: this broker's metadata store has no dynamic broker configs", kerr.InvalidRequest)
	}
	return bs, nil
}

// describeBroker fills sr for a BROKER resource: this broker's static
// configs (read-only) and the dynamic ones with their effective values, or
// for the default entity only the dynamic defaults that are set.
func (c *conn) describeBroker(req *kmsg.DescribeConfigsRequest, rr kmsg.DescribeConfigsRequestResource, sr *kmsg.DescribeConfigsResponseResource) {
	fail := func(err error) {
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
	}
	entity, err := c.brokerEntity(rr.ResourceName)
	if err != nil {
		fail(err)
		return
	}
	var own, def map[string]string
	if bs, ok := c.s.b.Store().(meta.BrokerConfigStore); ok {
		if def, err = bs.BrokerConfigs(meta.DefaultBrokerEntity); err == nil && entity != meta.DefaultBrokerEntity {
			own, err = bs.BrokerConfigs(entity)
		}
		if err != nil {
			fail(fmt.Errorf("%w: %v", kerr.UnknownServerError, err))
			return
		}
	}
	want := func(name string) bool {
		if rr.ConfigNames == nil {
			return true
		}
		for _, n := range rr.ConfigNames {
			if n == name {
				return true
			}
		}
		return false
	}
	add := func(name, value string, typ kmsg.ConfigType, src kmsg.ConfigSource, readOnly bool, doc string, synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) {
		if !want(name) {
			return
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.Value, rc.ConfigType, rc.Source, rc.ReadOnly = name, kmsg.StringPtr(value), typ, src, readOnly
		rc.IsDefault = src == kmsg.ConfigSourceDefaultConfig
		if req.IncludeDocumentation && doc != "" {
			rc.Documentation = kmsg.StringPtr(doc)
		}
		if req.IncludeSynonyms {
			rc.ConfigSynonyms = synonyms
		}
		sr.Configs = append(sr.Configs, rc)
	}
	if entity == meta.DefaultBrokerEntity {
		for _, name := range []string{cluster.LeaderThrottledRateConfig, cluster.FollowerThrottledRateConfig} {
			if v, ok := def[name]; ok {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = name, kmsg.StringPtr(v), kmsg.ConfigSourceDynamicDefaultBrokerConfig
				add(name, v, kmsg.ConfigTypeLong, kmsg.ConfigSourceDynamicDefaultBrokerConfig, false, dynamicBrokerConfigs[name],
					[]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{syn})
			}
		}
		return
	}
	for _, e := range c.s.b.BrokerConfigs() {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = e.Name, kmsg.StringPtr(e.Value), kmsg.ConfigSourceStaticBrokerConfig
		add(e.Name, e.Value, kmsg.ConfigType(e.Type), kmsg.ConfigSourceStaticBrokerConfig, true, e.Doc,
			[]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{syn})
	}
	for _, x := range []struct {
		name string
		th   *cluster.Throttle
	}{{cluster.LeaderThrottledRateConfig, c.s.cfg.LeaderThrottle}, {cluster.FollowerThrottledRateConfig, c.s.cfg.FollowerThrottle}} {
		// Synonyms in Kafka's order of precedence, then the effective one.
		var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		synonym := func(v string, src kmsg.ConfigSource) {
			syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			syn.Name, syn.Value, syn.Source = x.name, kmsg.StringPtr(v), src
			syns = append(syns, syn)
		}
		if v, ok := own[x.name]; ok {
			synonym(v, kmsg.ConfigSourceDynamicBrokerConfig)
		}
		if v, ok := def[x.name]; ok {
			synonym(v, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		}
		static, staticSrc := strconv.FormatInt(x.th.StaticRate(), 10), kmsg.ConfigSourceStaticBrokerConfig
		if x.th.StaticRate() <= 0 {
			// Unlimited is Kafka's default, Long.MaxValue.
			static, staticSrc = strconv.FormatInt(math.MaxInt64, 10), kmsg.ConfigSourceDefaultConfig
		}
		synonym(static, staticSrc)
		_, src := cluster.EffectiveRate(x.name, own, def, x.th.StaticRate())
		value, source := static, staticSrc
		switch src {
		case cluster.RateDynamicBroker:
			value, source = own[x.name], kmsg.ConfigSourceDynamicBrokerConfig
		case cluster.RateDynamicDefault:
			value, source = def[x.name], kmsg.ConfigSourceDynamicDefaultBrokerConfig
		}
		add(x.name, value, kmsg.ConfigTypeLong, source, false, dynamicBrokerConfigs[x.name], syns)
	}
}

// validBrokerConfig checks one dynamic broker config: the name must be a
// dynamic one (INVALID_REQUEST, as Kafka answers for static and unknown
// broker configs) and the value a rate of at least 1 byte/s
// (INVALID_CONFIG; delete the config for unlimited).
func (c *conn) validBrokerConfig(name string, value *string) error {
	if _, ok := dynamicBrokerConfigs[name]; !ok {
		for _, e := range c.s.b.BrokerConfigs() {
			if e.Name == name {
				return fmt.Errorf("%w: broker config %s cannot be updated dynamically: set it with flags, env or the config file", kerr.InvalidRequest, name)
			}
		}
		return fmt.Errorf("%w: unknown dynamic broker config %q (dynamic: %s, %s)", kerr.InvalidRequest, name,
			cluster.LeaderThrottledRateConfig, cluster.FollowerThrottledRateConfig)
	}
	if value == nil {
		return fmt.Errorf("%w: null value for %s", kerr.InvalidRequest, name)
	}
	v, err := strconv.ParseInt(*value, 10, 64)
	if err != nil || v < 1 {
		return &broker.ConfigError{Name: name, Value: *value, Reason: "must be a rate of at least 1 byte/s (delete it for unlimited)"}
	}
	return nil
}

// alterBroker replaces (whole) or edits (ops) the dynamic configs of a
// BROKER resource.
func (c *conn) alterBroker(name string, edit func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	entity, err := c.brokerEntity(name)
	if err != nil {
		return err
	}
	bs, err := c.brokerConfigStore()
	if err != nil {
		return err
	}
	if validateOnly {
		cur, err := bs.BrokerConfigs(entity)
		if err != nil {
			return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
		}
		_, err = edit(maps.Clone(cur))
		return err
	}
	// A read-modify-write in the store: the default entity is altered
	// through any broker, and two concurrent alters must both land.
	var next map[string]string
	var editErr error
	err = bs.UpdateBrokerConfigs(entity, func(cur map[string]string) (map[string]string, error) {
		next, editErr = edit(cur)
		return next, editErr
	})
	if editErr != nil {
		return editErr
	}
	if err != nil {
		if errors.Is(err, meta.ErrInvalid) {
			return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		}
		return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
	}
	c.s.logger.Info("dynamic broker configs changed", "entity", entity, "configs", next)
	return nil
}

// replaceBrokerConfigs is AlterConfigs' whole-set replacement.
func (c *conn) replaceBrokerConfigs(name string, configs []kmsg.AlterConfigsRequestResourceConfig, validateOnly bool) error {
	return c.alterBroker(name, func(map[string]string) (map[string]string, error) {
		next := make(map[string]string, len(configs))
		for _, cfg := range configs {
			if err := c.validBrokerConfig(cfg.Name, cfg.Value); err != nil {
				return nil, err
			}
			next[cfg.Name] = *cfg.Value
		}
		return next, nil
	}, validateOnly)
}

// editBrokerConfigs is IncrementalAlterConfigs: SET and DELETE (the rates
// are no lists, so APPEND and SUBTRACT are INVALID_REQUEST, as in Kafka).
func (c *conn) editBrokerConfigs(name string, configs []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	return c.alterBroker(name, func(cur map[string]string) (map[string]string, error) {
		if cur == nil {
			cur = map[string]string{}
		}
		for _, cfg := range configs {
			switch cfg.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				if err := c.validBrokerConfig(cfg.Name, cfg.Value); err != nil {
					return nil, err
				}
				cur[cfg.Name] = *cfg.Value
			case kmsg.IncrementalAlterConfigOpDelete:
				if _, ok := dynamicBrokerConfigs[cfg.Name]; !ok {
					return nil, c.validBrokerConfig(cfg.Name, nil)
				}
				delete(cur, cfg.Name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				return nil, fmt.Errorf("%w: %s is not a list config", kerr.InvalidRequest, cfg.Name)
			default:
				return nil, fmt.Errorf("%w: unknown operation %d", kerr.InvalidRequest, cfg.Op)
			}
		}
		return cur, nil
	}, validateOnly)
}
