package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/hooks"
)

// Confluent REST Proxy v2 consumer instances: a stateful group consumer
// per instance, for tools written against REST Proxy.

// consumerInstance is one v2 consumer: a kgo group member created at
// subscription time (kgo needs topics to join a group).
type consumerInstance struct {
	group, name string
	owner       string // principal that created it; only it may use it
	binary      bool
	autoCommit  bool
	reset       kgo.Offset

	mu       sync.Mutex // serializes requests on this instance
	cl       *kgo.Client
	topics   []string
	lastUsed time.Time
}

type consumerRegistry struct {
	b  *Bridge
	mu sync.Mutex
	m  map[string]*consumerInstance // group + "\x00" + name
}

func newConsumerRegistry(b *Bridge) *consumerRegistry {
	return &consumerRegistry{b: b, m: map[string]*consumerInstance{}}
}

func instanceKey(group, name string) string { return group + "\x00" + name }

func (b *Bridge) consumerRoutes(r chi.Router) {
	r.Post("/consumers/{group}", b.createConsumer)
	r.Route("/consumers/{group}/instances/{instance}", func(r chi.Router) {
		r.Delete("/", b.deleteConsumer)
		r.Post("/subscription", b.subscribe)
		r.Get("/subscription", b.subscription)
		r.Delete("/subscription", b.unsubscribe)
		r.Get("/records", b.consumerRecords)
		r.Post("/offsets", b.commitOffsets)
		r.Get("/offsets", b.committedOffsets)
	})
}

type createConsumerRequest struct {
	Name       string `json:"name"`
	Format     string `json:"format"`
	Reset      string `json:"auto.offset.reset"`
	AutoCommit string `json:"auto.commit.enable"`
}

func (b *Bridge) requirePrincipal(r *http.Request) (principal, error) {
	// Consumer instances are group members: Read on the group, as Kafka
	// checks it for JoinGroup and offset commits.
	return b.auth.requireGroup(r, chi.URLParam(r, "group"))
}

// decodeJSONBody reads a small JSON request body into v; an empty body
// leaves v as is.
func (b *Bridge) decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, 1<<20, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return unprocessable("Malformed request body: %v", err)
	}
	return nil
}

func (b *Bridge) createConsumer(w http.ResponseWriter, r *http.Request) {
	p, err := b.requirePrincipal(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req createConsumerRequest
	if err := b.decodeJSONBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	inst := &consumerInstance{group: chi.URLParam(r, "group"), name: req.Name, owner: p.name(),
		autoCommit: req.AutoCommit != "false", reset: kgo.NewOffset().AtEnd(), lastUsed: time.Now()}
	if inst.name == "" {
		inst.name = "rest-consumer-" + nuid.Next()
	}
	switch req.Format {
	case "", "json":
	case "binary":
		inst.binary = true
	default:
		writeError(w, unprocessable("format %q is not supported (json or binary).", req.Format))
		return
	}
	switch req.Reset {
	case "", "latest":
	case "earliest":
		inst.reset = kgo.NewOffset().AtStart()
	default:
		writeError(w, unprocessable("auto.offset.reset must be earliest or latest."))
		return
	}
	reg := b.consumers
	reg.mu.Lock()
	if _, exists := reg.m[instanceKey(inst.group, inst.name)]; exists {
		reg.mu.Unlock()
		writeError(w, errf(http.StatusConflict, codeConsumerExists, "Consumer instance with the specified name already exists."))
		return
	}
	if len(reg.m) >= b.cfg.MaxConsumerInstances {
		reg.mu.Unlock()
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeTooManyConsumers, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("Too many consumer instances (limit %d); delete one or retry once idle ones expire.", b.cfg.MaxConsumerInstances)})
		return
	}
	reg.m[instanceKey(inst.group, inst.name)] = inst
	reg.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	writeJSON(w, http.StatusOK, contentTypeV2JSON, map[string]string{
		"instance_id": inst.name,
		"base_uri":    scheme + "://" + r.Host + "/consumers/" + inst.group + "/instances/" + inst.name,
	})
}

// instance finds the request's consumer instance, locked; call unlock.
func (b *Bridge) instance(w http.ResponseWriter, r *http.Request) (*consumerInstance, principal, bool) {
	p, err := b.requirePrincipal(r)
	if err != nil {
		writeError(w, err)
		return nil, p, false
	}
	reg := b.consumers
	reg.mu.Lock()
	inst := reg.m[instanceKey(chi.URLParam(r, "group"), chi.URLParam(r, "instance"))]
	reg.mu.Unlock()
	if inst == nil || inst.owner != p.name() {
		writeError(w, errf(http.StatusNotFound, codeConsumerNotFound, "Consumer instance not found."))
		return nil, p, false
	}
	inst.mu.Lock()
	inst.lastUsed = time.Now()
	return inst, p, true
}

func (b *Bridge) deleteConsumer(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	b.consumers.mu.Lock()
	delete(b.consumers.m, instanceKey(inst.group, inst.name))
	b.consumers.mu.Unlock()
	inst.closeClient()
	inst.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// closeClient leaves the group (committing first when auto-commit is on).
// Caller holds inst.mu.
func (inst *consumerInstance) closeClient() {
	if inst.cl == nil {
		return
	}
	if inst.autoCommit {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = inst.cl.CommitUncommittedOffsets(ctx)
		cancel()
	}
	inst.cl.Close()
	inst.cl, inst.topics = nil, nil
}

func (b *Bridge) subscribe(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	var req struct {
		Topics []string `json:"topics"`
	}
	if err := b.decodeJSONBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Topics) == 0 {
		writeError(w, unprocessable("A subscription needs at least one topic (topic_pattern is not supported)."))
		return
	}
	for _, t := range req.Topics {
		if _, err := b.auth.authorize(r, t, opConsume); err != nil {
			writeError(w, err)
			return
		}
		if _, err := b.prod.topics.partitions(r.Context(), t); err != nil {
			writeError(w, err)
			return
		}
	}
	inst.closeClient()
	opts := b.consumerOpts("sluice-bridge-rest-consumer",
		kgo.ConsumerGroup(inst.group), kgo.ConsumeTopics(req.Topics...), kgo.ConsumeResetOffset(inst.reset))
	if !inst.autoCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(append(opts, b.cfg.KafkaOpts...)...)
	if err != nil {
		writeError(w, err)
		return
	}
	inst.cl, inst.topics = cl, req.Topics
	w.WriteHeader(http.StatusNoContent)
}

func (b *Bridge) subscription(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	topics := inst.topics
	if topics == nil {
		topics = []string{}
	}
	writeJSON(w, http.StatusOK, contentTypeV2JSON, map[string][]string{"topics": topics})
}

func (b *Bridge) unsubscribe(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	inst.closeClient()
	w.WriteHeader(http.StatusNoContent)
}

// v2ConsumedRecord is one record of GET …/records.
type v2ConsumedRecord struct {
	Topic     string `json:"topic"`
	Key       any    `json:"key"`
	Value     any    `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

const maxRecordsPerPoll = 500

func (b *Bridge) consumerRecords(w http.ResponseWriter, r *http.Request) {
	inst, p, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	want := contentTypeJSONV2
	if inst.binary {
		want = contentTypeBinaryV2
	}
	if acc := r.Header.Get("Accept"); acc != "" && acc != "*/*" && acc != want {
		writeError(w, errf(http.StatusNotAcceptable, codeNotAcceptable,
			"The requested embedded data format does not match the deserializer for this consumer instance; use "+want+"."))
		return
	}
	if inst.cl == nil {
		writeError(w, errf(http.StatusConflict, codeNoSubscription, "Consumer instance is not subscribed to any topic."))
		return
	}
	timeout := time.Second
	if ms, err := strconv.Atoi(r.URL.Query().Get("timeout")); err == nil && ms >= 0 {
		timeout = min(time.Duration(ms)*time.Millisecond, 30*time.Second)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	fetches := inst.cl.PollRecords(ctx, maxRecordsPerPoll)
	fetches.EachError(func(_ string, _ int32, err error) { b.skipOversized(inst.cl, err) })
	out := []v2ConsumedRecord{}
	// max_bytes is not honoured: kgo hands over whole fetches, and
	// dropping a tail after polling would lose records.
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		// Like a Kafka fetch: Read on the topic now (ACLs may have
		// changed since the subscription) and the topic's filter for
		// this principal (the in-process connection is unfiltered).
		if len(fp.Records) == 0 || b.auth.authorizeRead(p, fp.Topic) != nil {
			return
		}
		keep := b.filterRecords(ctx, b.topicFilter(fp.Topic), streamOptions{topic: fp.Topic,
			reader: hooks.Reader{GroupID: inst.group, ClientID: "sluice-bridge-rest-consumer", Principal: p.name()}}, fp.Partition, fp.Records)
		for _, rec := range fp.Records {
			// keep maps a record to what this principal may see of it
			// (a filter's rewrite is a copy: fetched records are shared).
			if kr := keep[rec]; kr != nil {
				out = append(out, v2ConsumedRecord{Topic: kr.Topic, Key: embed(kr.Key, inst.binary),
					Value: embed(kr.Value, inst.binary), Partition: kr.Partition, Offset: kr.Offset})
			}
		}
	})
	writeJSON(w, http.StatusOK, want, out)
}

type v2TopicPartitionOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// commitOffsets commits the given offsets (each the last record consumed,
// so offset+1 is committed, as REST Proxy does), or with no body
// everything fetched so far.
func (b *Bridge) commitOffsets(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	var req struct {
		Offsets []v2TopicPartitionOffset `json:"offsets"`
	}
	if err := b.decodeJSONBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if inst.cl == nil {
		writeError(w, errf(http.StatusConflict, codeNoSubscription, "Consumer instance is not subscribed to any topic."))
		return
	}
	var err error
	if len(req.Offsets) == 0 {
		err = inst.cl.CommitUncommittedOffsets(r.Context())
	} else {
		offs := map[string]map[int32]kgo.EpochOffset{}
		for _, o := range req.Offsets {
			if offs[o.Topic] == nil {
				offs[o.Topic] = map[int32]kgo.EpochOffset{}
			}
			offs[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset + 1}
		}
		var commitErr error
		inst.cl.CommitOffsetsSync(r.Context(), offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
			commitErr = commitError(resp, e)
		})
		err = commitErr
	}
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// committedOffsets serves GET …/offsets with a body naming partitions.
func (b *Bridge) committedOffsets(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := b.instance(w, r)
	if !ok {
		return
	}
	defer inst.mu.Unlock()
	var req struct {
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		} `json:"partitions"`
	}
	if err := b.decodeJSONBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	resps, err := b.adm.FetchOffsets(r.Context(), inst.group)
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	out := []v2TopicPartitionOffset{}
	resps.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			return
		}
		if len(req.Partitions) > 0 {
			found := false
			for _, p := range req.Partitions {
				found = found || (p.Topic == o.Topic && p.Partition == o.Partition)
			}
			if !found {
				return
			}
		}
		out = append(out, v2TopicPartitionOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.At})
	})
	writeJSON(w, http.StatusOK, contentTypeV2JSON, map[string]any{"offsets": out})
}

// expire removes instances idle longer than the configured timeout.
func (reg *consumerRegistry) expire(now time.Time) {
	timeout := time.Duration(reg.b.cfg.ConsumerInstanceTimeout)
	reg.mu.Lock()
	var idle []*consumerInstance
	for k, inst := range reg.m {
		if inst.mu.TryLock() {
			if now.Sub(inst.lastUsed) > timeout {
				delete(reg.m, k)
				idle = append(idle, inst)
			} else {
				inst.mu.Unlock()
			}
		}
	}
	reg.mu.Unlock()
	for _, inst := range idle {
		reg.b.log.Info("consumer instance expired", "group", inst.group, "instance", inst.name)
		inst.closeClient()
		inst.mu.Unlock()
	}
}

func (reg *consumerRegistry) closeAll() {
	reg.mu.Lock()
	all := reg.m
	reg.m = map[string]*consumerInstance{}
	reg.mu.Unlock()
	for _, inst := range all {
		inst.mu.Lock()
		inst.closeClient()
		inst.mu.Unlock()
	}
}

// commitError is the first error of an offset commit, request- or
// partition-level.
func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil || resp == nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				return fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, e)
			}
		}
	}
	return nil
}
