package console

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// TopicSummary is one row of GET /console/api/topics.
type TopicSummary struct {
	Name              string `json:"name"`
	Internal          bool   `json:"internal"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	UnderReplicated   int    `json:"under_replicated"`
	Offline           int    `json:"offline"`
	// Messages is the sum over partitions of end minus start offset
	// (compaction and transaction markers make it an upper bound).
	Messages int64 `json:"messages"`
	// SizeBytes is the size on disk of this broker's replicas.
	SizeBytes int64 `json:"size_bytes"`
	// MessagesInPerSec and BytesInPerSec are the cluster's (every
	// leader's), computed from Window (absent until two samples).
	MessagesInPerSec float64 `json:"messages_in_per_sec"`
	BytesInPerSec    float64 `json:"bytes_in_per_sec"`
	Window           *Window `json:"window,omitempty"`
	// Configs are the topic's own settings (not the broker defaults).
	Configs map[string]string `json:"configs"`
}

// TopicList is GET /console/api/topics.
type TopicList struct {
	Topics []TopicSummary `json:"topics"`
}

func isInternal(t kadm.TopicDetail) bool {
	return t.IsInternal || strings.HasPrefix(t.Topic, "__")
}

func (c *Console) listTopics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		writeKafkaError(w, "metadata", err)
		return
	}
	// As Kafka's Metadata: topics the caller may not Describe are left out.
	for n := range md.Topics {
		if c.authorize != nil && !c.authorize(r, auth.OpDescribe, auth.ResTopic, n) {
			delete(md.Topics, n)
		}
	}
	names := md.Topics.Names()
	var starts, ends kadm.ListedOffsets
	if len(names) > 0 {
		// A broker that does not answer (one stopping, say) leaves its
		// partitions' message counts out rather than failing the list.
		if starts, err = c.adm.ListStartOffsets(ctx, names...); err != nil && !someAnswered(err) {
			writeKafkaError(w, "list offsets", err)
			return
		}
		if ends, err = c.adm.ListEndOffsets(ctx, names...); err != nil && !someAnswered(err) {
			writeKafkaError(w, "list offsets", err)
			return
		}
	}
	overrides := map[string]map[string]string{}
	if len(names) > 0 {
		rcs, err := c.describeTopicConfigs(ctx, names...)
		if err != nil {
			writeKafkaError(w, "describe configs", err)
			return
		}
		for _, rc := range rcs {
			m := map[string]string{}
			for _, cf := range rc.Configs {
				if cf.Source == kmsg.ConfigSourceDynamicTopicConfig {
					m[cf.Key] = cf.MaybeValue()
					if cf.Sensitive {
						m[cf.Key] = ""
					}
				}
			}
			overrides[rc.Name] = m
		}
	}
	c.rates.touch()
	local := c.localReplicas()
	out := TopicList{Topics: []TopicSummary{}}
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			continue
		}
		s := TopicSummary{Name: t.Topic, Internal: isInternal(t), Partitions: len(t.Partitions), Configs: overrides[t.Topic]}
		if s.Configs == nil {
			s.Configs = map[string]string{}
		}
		for _, p := range t.Partitions {
			s.ReplicationFactor = max(s.ReplicationFactor, len(p.Replicas))
			if p.Leader < 0 {
				s.Offline++
			} else if len(p.ISR) < len(p.Replicas) {
				s.UnderReplicated++
			}
			st, ok1 := starts.Lookup(t.Topic, p.Partition)
			en, ok2 := ends.Lookup(t.Topic, p.Partition)
			if ok1 && ok2 && st.Err == nil && en.Err == nil && en.Offset > st.Offset {
				s.Messages += en.Offset - st.Offset
			}
			if rep, ok := local[replicaKey{t.Topic, p.Partition}]; ok {
				s.SizeBytes += rep.Size
			}
		}
		rate := c.rates.topic(t.Topic)
		s.Window = rate.Window
		s.MessagesInPerSec, s.BytesInPerSec = rate.MessagesInPerSec, rate.BytesInPerSec
		out.Topics = append(out.Topics, s)
	}
	writeJSON(w, http.StatusOK, out)
}

// PartitionInfo is one partition of a topic's detail.
type PartitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	LogStart  int64   `json:"log_start"`
	LogEnd    int64   `json:"log_end"`
	// SizeBytes is this broker's replica's size; -1 when this broker
	// hosts no replica of the partition.
	SizeBytes int64  `json:"size_bytes"`
	Error     string `json:"error,omitempty"`
}

// ConfigEntry is one topic config.
type ConfigEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"` // TOPIC (set on the topic), DEFAULT, ...
	Sensitive bool   `json:"sensitive"`
	ReadOnly  bool   `json:"read_only"`
}

// TopicDetail is GET /console/api/topics/{topic}.
type TopicDetail struct {
	Name              string          `json:"name"`
	Internal          bool            `json:"internal"`
	ReplicationFactor int             `json:"replication_factor"`
	Partitions        []PartitionInfo `json:"partitions"`
	Configs           []ConfigEntry   `json:"configs"`
	MessagesInPerSec  float64         `json:"messages_in_per_sec"`
	BytesInPerSec     float64         `json:"bytes_in_per_sec"`
	Window            *Window         `json:"window,omitempty"`
}

func (c *Console) describeTopic(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpDescribe, auth.ResTopic, name) {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	md, err := c.adm.Metadata(ctx, name)
	if err != nil {
		writeKafkaError(w, "metadata", err)
		return
	}
	t, ok := md.Topics[name]
	if !ok || t.Err != nil {
		err := t.Err
		if err == nil {
			err = kerr.UnknownTopicOrPartition
		}
		writeKafkaError(w, "topic "+name, err)
		return
	}
	// As in the list: partitions whose leader did not answer say so in
	// their error instead of failing the page.
	starts, err := c.adm.ListStartOffsets(ctx, name)
	if err != nil && !someAnswered(err) {
		writeKafkaError(w, "list offsets", err)
		return
	}
	ends, err := c.adm.ListEndOffsets(ctx, name)
	if err != nil && !someAnswered(err) {
		writeKafkaError(w, "list offsets", err)
		return
	}
	local := c.localReplicas()
	out := TopicDetail{Name: name, Internal: isInternal(t), Partitions: []PartitionInfo{}, Configs: []ConfigEntry{}}
	for _, p := range t.Partitions.Sorted() {
		pi := PartitionInfo{Partition: p.Partition, Leader: p.Leader, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), SizeBytes: -1}
		out.ReplicationFactor = max(out.ReplicationFactor, len(p.Replicas))
		st, stOK := starts.Lookup(name, p.Partition)
		en, enOK := ends.Lookup(name, p.Partition)
		if stOK {
			if st.Err != nil {
				pi.Error = st.Err.Error()
			}
			pi.LogStart = st.Offset
		}
		if enOK {
			if en.Err != nil {
				pi.Error = en.Err.Error()
			}
			pi.LogEnd = en.Offset
		}
		if !stOK || !enOK {
			pi.Error = "log offsets unknown: the partition's leader did not answer"
		}
		if p.Err != nil {
			pi.Error = p.Err.Error()
		}
		if rep, ok := local[replicaKey{name, p.Partition}]; ok {
			pi.SizeBytes = rep.Size
		}
		out.Partitions = append(out.Partitions, pi)
	}
	rcs, err := c.describeTopicConfigs(ctx, name)
	if err != nil {
		writeKafkaError(w, "describe configs", err)
		return
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			writeKafkaError(w, "describe configs", rc.Err)
			return
		}
		for _, cf := range rc.Configs {
			e := ConfigEntry{Name: cf.Key, Value: cf.MaybeValue(), Source: cf.Source.String(), Sensitive: cf.Sensitive}
			if cf.Sensitive {
				e.Value = ""
			}
			out.Configs = append(out.Configs, e)
		}
	}
	sort.Slice(out.Configs, func(i, j int) bool { return out.Configs[i].Name < out.Configs[j].Name })
	c.rates.touch()
	rate := c.rates.topic(name)
	out.MessagesInPerSec, out.BytesInPerSec, out.Window = rate.MessagesInPerSec, rate.BytesInPerSec, rate.Window
	writeJSON(w, http.StatusOK, out)
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// CreateTopicRequest is the body of POST /console/api/topics.
type CreateTopicRequest struct {
	Name              string            `json:"name"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
}

func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	var req CreateTopicRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, "a topic needs a name")
		return
	}
	// Kafka's CreateTopics: Create on the Cluster, or on the topic.
	if c.authorize != nil && !c.authorize(r, auth.OpCreate, auth.ResCluster, auth.ClusterResource) &&
		!c.may(w, r, auth.OpCreate, auth.ResTopic, req.Name) {
		return
	}
	if req.Partitions == 0 {
		req.Partitions = -1 // the broker's default
	}
	if req.ReplicationFactor == 0 {
		req.ReplicationFactor = -1
	}
	cfgs := map[string]*string{}
	for k, v := range req.Configs {
		cfgs[k] = &v
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.adm.CreateTopic(ctx, req.Partitions, req.ReplicationFactor, cfgs, req.Name)
	if err == nil {
		err = withMessage(resp.Err, resp.ErrMessage)
	}
	if err != nil {
		writeKafkaError(w, "create topic "+req.Name, err)
		return
	}
	c.log.Info("console: topic created", "principal", principalOf(r), "topic", req.Name, "partitions", resp.NumPartitions, "replication_factor", resp.ReplicationFactor)
	writeJSON(w, http.StatusCreated, map[string]any{"name": resp.Topic, "partitions": resp.NumPartitions, "replication_factor": resp.ReplicationFactor})
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpDelete, auth.ResTopic, name) {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		writeKafkaError(w, "delete topic "+name, err)
		return
	}
	c.log.Info("console: topic deleted", "principal", principalOf(r), "topic", name)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// AlterConfigsRequest is the body of POST /console/api/topics/{topic}/configs:
// incremental changes (Kafka's IncrementalAlterConfigs).
type AlterConfigsRequest struct {
	Set    map[string]string `json:"set"`
	Delete []string          `json:"delete"`
}

func (c *Console) alterConfigs(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpAlterConfigs, auth.ResTopic, name) {
		return
	}
	var req AlterConfigsRequest
	if !readJSON(w, r, &req) {
		return
	}
	var ops []kadm.AlterConfig
	for k, v := range req.Set {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range req.Delete {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(ops) == 0 {
		writeError(w, http.StatusBadRequest, "nothing to change: give set and/or delete")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resps, err := c.adm.AlterTopicConfigs(ctx, ops, name)
	if err == nil {
		for _, rr := range resps {
			if rr.Err != nil {
				err = withMessage(rr.Err, rr.ErrMessage)
			}
		}
	}
	if err != nil {
		writeKafkaError(w, "alter configs of "+name, err)
		return
	}
	c.log.Info("console: topic configs altered", "principal", principalOf(r), "topic", name, "set", len(req.Set), "deleted", req.Delete)
	writeJSON(w, http.StatusOK, map[string]any{"topic": name, "changed": len(ops)})
}

// AddPartitionsRequest is the body of POST /console/api/topics/{topic}/partitions.
type AddPartitionsRequest struct {
	// Count is the new total number of partitions.
	Count int `json:"count"`
}

func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpAlter, auth.ResTopic, name) {
		return
	}
	var req AddPartitionsRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Count <= 0 {
		writeError(w, http.StatusBadRequest, "count (the new total number of partitions) must be positive")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resps, err := c.adm.UpdatePartitions(ctx, req.Count, name)
	if err == nil {
		for _, rr := range resps {
			if rr.Err != nil {
				err = withMessage(rr.Err, rr.ErrMessage)
			}
		}
	}
	if err != nil {
		writeKafkaError(w, "add partitions to "+name, err)
		return
	}
	c.log.Info("console: partitions added", "principal", principalOf(r), "topic", name, "count", req.Count)
	writeJSON(w, http.StatusOK, map[string]any{"topic": name, "partitions": req.Count})
}

// principalOf names the caller in the console's change log (the guard
// has already checked the credentials).
func principalOf(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		return "User:" + user
	}
	if r.Header.Get("Authorization") != "" {
		return "admin token"
	}
	return "User:ANONYMOUS"
}

// describeTopicConfigs describes the topics' configs, asking this broker:
// every broker answers for every topic, and kadm would pick one at random,
// which while a broker is stopping can be the one going away (the page
// then failed with a closed connection). Falls back to kadm's choice when
// this broker cannot be asked (the client does not know its id).
func (c *Console) describeTopicConfigs(ctx context.Context, names ...string) (kadm.ResourceConfigs, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, n := range names {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, n
		req.Resources = append(req.Resources, rr)
	}
	resp, err := req.RequestWith(ctx, c.cl.Broker(int(c.cfg.BrokerID)))
	if err != nil {
		c.log.Debug("describe configs on this broker failed; asking any broker", "err", err)
		return c.adm.DescribeTopicConfigs(ctx, names...)
	}
	out := make(kadm.ResourceConfigs, 0, len(resp.Resources))
	for _, r := range resp.Resources {
		rc := kadm.ResourceConfig{Name: r.ResourceName, Err: kerr.ErrorForCode(r.ErrorCode)}
		for _, e := range r.Configs {
			rc.Configs = append(rc.Configs, kadm.Config{Key: e.Name, Value: e.Value, Sensitive: e.IsSensitive, Source: e.Source})
		}
		out = append(out, rc)
	}
	return out, nil
}

// someAnswered reports whether err is kadm's report of a request some
// brokers answered and others did not (its result holds the answers).
func someAnswered(err error) bool {
	var se *kadm.ShardErrors
	return errors.As(err, &se) && !se.AllFailed
}
