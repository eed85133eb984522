package bridge

import (
	"errors"
	"net/http"
	"slices"
	"sort"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kerr"
)

// listTopics serves GET /topics: the topic names (v2 shape) the caller may
// Describe, internal topics left out.
func (b *Bridge) listTopics(w http.ResponseWriter, r *http.Request) {
	p, err := b.auth.identify(r)
	if err == nil && p.anonymous() && !b.auth.open {
		// Anonymous callers publish beacons; listing needs a principal.
		err = errAuthRequired
	}
	if err != nil {
		writeError(w, err)
		return
	}
	details, err := b.adm.ListTopics(r.Context())
	if err != nil {
		writeError(w, errors.Join(ErrUnavailable, err))
		return
	}
	names := []string{}
	for _, name := range details.Names() {
		if !b.auth.describable(p, name) {
			continue
		}
		names = append(names, name)
	}
	writeJSON(w, http.StatusOK, contentTypeV2JSON, names)
}

type v2Replica struct {
	Broker int32 `json:"broker"`
	Leader bool  `json:"leader"`
	InSync bool  `json:"in_sync"`
}

type v2Partition struct {
	Partition int32       `json:"partition"`
	Leader    int32       `json:"leader"`
	Replicas  []v2Replica `json:"replicas"`
}

// describeTopic serves GET /topics/{topic}: its partitions and replicas.
func (b *Bridge) describeTopic(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if _, err := b.auth.authorize(r, topic, opDescribe); err != nil {
		writeError(w, err)
		return
	}
	details, err := b.adm.ListTopics(r.Context(), topic)
	if err != nil {
		writeError(w, errors.Join(ErrUnavailable, err))
		return
	}
	d, ok := details[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		writeError(w, ErrTopicNotFound)
		return
	}
	if d.Err != nil {
		writeError(w, errors.Join(ErrUnavailable, d.Err))
		return
	}
	parts := make([]v2Partition, 0, len(d.Partitions))
	for _, pd := range d.Partitions {
		vp := v2Partition{Partition: pd.Partition, Leader: pd.Leader, Replicas: []v2Replica{}}
		for _, rep := range pd.Replicas {
			vp.Replicas = append(vp.Replicas, v2Replica{Broker: rep, Leader: rep == pd.Leader, InSync: slices.Contains(pd.ISR, rep)})
		}
		parts = append(parts, vp)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
	writeJSON(w, http.StatusOK, contentTypeV2JSON, map[string]any{
		"name":       topic,
		"configs":    map[string]string{},
		"partitions": parts,
	})
}
