package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// scenario is one named section of the benchmark. New sections (plugins,
// HTTP beacons, replication, ...) are added by appending to scenarios();
// each decides how it drives the brokers and how its report looks.
type scenario struct {
	name        string // what -workload selects
	description string
	run         func(ctx context.Context, env *benchEnv) section
}

// section is a finished scenario's report.
type section interface {
	// render writes the full human-readable report.
	render(w io.Writer)
	// summary returns a few self-contained lines for the paste-ready block.
	summary() []string
	// err joins every failure (nil when all runs succeeded). Target misses
	// are not failures: they are reported, not fatal.
	err() error
}

// benchEnv is what every scenario gets: which brokers to run and how.
type benchEnv struct {
	brokers []brokerSpec
	quick   bool
	repeat  int // repetitions per broker; reports show the median
	log     *slog.Logger
}

// scenarios is the registry, in run order.
func scenarios() []scenario {
	return []scenario{
		throughputScenario(workload{name: "1k", recordSize: 1024, records: 512_000, partitions: 8}),
		throughputScenario(workload{name: "100b", recordSize: 100, records: 2_000_000, partitions: 8}),
		bridgeScenario(),
		replicationScenario(),
		pluginsScenario(),
		tlsScenario(),
		fetchSessionsScenario(),
		txnScenario(),
	}
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

func scenarioByName(name string) (scenario, error) {
	for _, s := range scenarios() {
		if s.name == name {
			return s, nil
		}
	}
	return scenario{}, fmt.Errorf("unknown scenario %q", name)
}

// phaseError says which scenario, broker and phase failed.
type phaseError struct {
	Scenario string
	Broker   string
	Phase    string
	Err      error
}

func (e *phaseError) Error() string {
	return fmt.Sprintf("%s: %s failed in %s: %v", e.Scenario, e.Broker, e.Phase, e.Err)
}

func (e *phaseError) Unwrap() error { return e.Err }
