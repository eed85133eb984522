package main

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// singleSluice is the one broker of a Sluice-only scenario (txn,
// fetchsessions): `sluice serve` from the -sluice binary, with the
// scenario's topic created.
type singleSluice struct {
	*brokerProcess
	// ctx ends when the broker dies (cause errBrokerExited) or the
	// scenario's context does.
	ctx    context.Context
	cancel context.CancelFunc
}

// startSingleSluice starts one Sluice with args after the kit's flags and
// creates topic with partitions (replication 1). skipped: the run has no
// Sluice (-only kfake). A failure is a *phaseError of scenario in phase
// "start" or "create-topic". Close it with close.
func startSingleSluice(ctx context.Context, env *benchEnv, scenario string, args []string, topic string, partitions int32) (s *singleSluice, skipped bool, err error) {
	sluicePath, ok := sluiceBinary(env)
	if !ok {
		return nil, true, nil
	}
	fail := func(phase string, err error) error {
		return &phaseError{Scenario: scenario, Broker: "sluice", Phase: phase, Err: err}
	}
	spec := sluiceSpec(sluicePath)
	spec.args = args
	b, err := startBroker(ctx, spec, env.log)
	if err != nil {
		return nil, false, fail("start", err)
	}
	s = &singleSluice{brokerProcess: b}
	s.ctx, s.cancel = b.watch(ctx)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		s.close()
		return nil, false, fail("create-topic", err)
	}
	resp, err := kadm.NewClient(admCl).CreateTopic(s.ctx, partitions, 1, nil, topic)
	admCl.Close()
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Creating many partitions can outlast the request's timeout on
		// a busy machine; kgo's retry then finds the topic made.
		err = nil
	}
	if err != nil {
		err = causeOr(s.ctx, err)
		s.close()
		return nil, false, fail("create-topic", err)
	}
	return s, false, nil
}

// close stops the broker and removes its data.
func (s *singleSluice) close() {
	s.cancel()
	s.stop()
}
