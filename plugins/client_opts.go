package plugins

import "github.com/twmb/franz-go/pkg/kgo"

// SetClientOpts adds options (SASL, TLS) to the Kafka clients StartSync
// creates, for a node whose listener requires authentication. Call it
// before StartSync.
func (r *Registry) SetClientOpts(opts ...kgo.Opt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clientOpts = append([]kgo.Opt(nil), opts...)
}
