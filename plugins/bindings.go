package plugins

import (
	"context"
	"errors"
	"fmt"

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
type binding struct {
	reg *Registry
	mod *wasm.Module
}

type partitionerBinding struct{ binding }

// Partition implements hooks.Partitioner.
func (b *partitionerBinding) Partition(ctx context.Context, topic string, recs []hooks.Record, n int32) ([]int32, error) {
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
