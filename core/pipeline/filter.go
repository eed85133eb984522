package pipeline

import (
	"context"

	"github.com/sluicemq/sluice/core/hooks"
)

// Filtering reports whether fetches of topic go through a filter (and so
// cannot be served with sendfile).
func (p *Pipeline) Filtering(topic string) bool { return p.cfg.Hooks.Filter(topic) != nil }

// FilterRecords runs topic's consume filter over decoded records of one
// partition for reader (the bridge's SSE streams). Records of a topic
// without a filter come back unchanged. The kept records keep their
// offsets.
func (p *Pipeline) FilterRecords(ctx context.Context, topic string, part int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	f := p.cfg.Hooks.Filter(topic)
	if f == nil || len(recs) == 0 {
		return recs, nil
	}
	out, err := f.Apply(ctx, topic, part, reader, recs)
	if err != nil {
		return nil, &PluginError{Hook: "filter", Topic: topic, Err: err}
	}
	return out, nil
}
