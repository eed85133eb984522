package plugins

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
)

// table maps topics to their bindings, per hook. It is never modified
// once published.
type table struct {
	partitioners map[string]*partitionerBinding
	transforms   map[string]*transformBinding
	filters      map[string]*filterBinding
}

// binding is a topic's hook bound to a module version. A call that finds
// its module closed (replaced or removed between lookup and call) moves
// to whatever is bound now, so a deploy never fails a request.
//
// With a shadow version, every call runs the live module first (its
// answer is what the caller gets), then the shadow on the same input on
// the same goroutine (its answer is only compared and discarded): the
// caller waits for both, so a shadow adds its own time to the live path
// while it runs. Shadow failures never reach the caller.
type binding struct {
	reg    *Registry
	mod    *wasm.Module
	stats  *liveStats
	shadow *shadowVersion
}

type partitionerBinding struct{ binding }

// Partition implements hooks.Partitioner.
func (b *partitionerBinding) Partition(ctx context.Context, topic string, recs []hooks.Record, n int32) ([]int32, error) {
	var in []hooks.Record
	sh := b.shadow
	if !sh.runs() {
		sh = nil
	} else {
		in = slices.Clone(recs) // the live call must not be able to change the shadow's input
	}
	start := time.Now()
	parts, err := b.partition(ctx, topic, recs, n)
	took := time.Since(start)
	b.reg.observe(b.stats, len(recs), took, err)
	if sh != nil {
		sh.partition(ctx, topic, in, n, parts, err, took)
	}
	return parts, err
}

func (b *partitionerBinding) partition(ctx context.Context, topic string, recs []hooks.Record, n int32) ([]int32, error) {
	mod := b.mod
	for {
		parts, err := mod.Partition(ctx, topic, recs, n)
		if !errors.Is(err, wasm.ErrModuleClosed) {
			return parts, err
		}
		if mod = b.reg.current(wasm.HookPartitioner, topic); mod == nil {
			return nil, fmt.Errorf("%w: the partitioner of topic %q was removed during the call", hooks.ErrPluginFailed, topic)
		}
	}
}

type transformBinding struct{ binding }

// Apply implements hooks.Transform.
func (b *transformBinding) Apply(ctx context.Context, topic string, partition int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	var in []hooks.Record
	sh := b.shadow
	if !sh.runs() {
		sh = nil
	} else {
		in = slices.Clone(recs)
	}
	start := time.Now()
	out, emits, err := b.apply(ctx, topic, partition, recs)
	took := time.Since(start)
	b.reg.observe(b.stats, len(recs), took, err)
	if sh != nil {
		sh.transform(ctx, topic, partition, in, out, emits, err, took)
	}
	return out, emits, err
}

func (b *transformBinding) apply(ctx context.Context, topic string, partition int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	mod := b.mod
	for {
		out, emits, err := mod.Transform(ctx, topic, partition, recs)
		if !errors.Is(err, wasm.ErrModuleClosed) {
			return out, emits, err
		}
		if mod = b.reg.current(wasm.HookTransform, topic); mod == nil {
			return recs, nil, nil // removed meanwhile: the topic has no transform now
		}
	}
}

type filterBinding struct{ binding }

// Apply implements hooks.Filter.
func (b *filterBinding) Apply(ctx context.Context, topic string, partition int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	var in []hooks.Record
	sh := b.shadow
	if !sh.runs() {
		sh = nil
	} else {
		in = slices.Clone(recs)
	}
	start := time.Now()
	out, err := b.apply(ctx, topic, partition, reader, recs)
	took := time.Since(start)
	b.reg.observe(b.stats, len(recs), took, err)
	if sh != nil {
		sh.filter(ctx, topic, partition, reader, in, out, err, took)
	}
	return out, err
}

func (b *filterBinding) apply(ctx context.Context, topic string, partition int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	mod := b.mod
	for {
		out, err := mod.Filter(ctx, topic, partition, reader, recs)
		if !errors.Is(err, wasm.ErrModuleClosed) {
			return out, err
		}
		if mod = b.reg.current(wasm.HookFilter, topic); mod == nil {
			return recs, nil // removed meanwhile: the topic has no filter now
		}
	}
}
