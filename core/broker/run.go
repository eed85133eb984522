package broker

import "context"

// Run opens the broker on cfg.DataDir (recovering after an unclean
// shutdown), serves the Kafka protocol on cfg.KafkaAddr until ctx is done,
// then shuts down cleanly (flush, close segments, clean-shutdown marker).
// ready, if non-nil, is called with the bound Kafka address once serving.
func Run(ctx context.Context, cfg Config, ready func(kafkaAddr string)) error {
	panic("unimplemented")
}
