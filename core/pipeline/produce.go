package pipeline

import (
	"context"

	"github.com/sluicemq/sluice/core/partition"
)

// AppendRequest is one partition's part of a produce.
type AppendRequest struct {
	Topic     string
	Partition int32
	// Batch is one or more v2 record batches as a client sent them.
	Batch []byte
	// Acks is the source request's acks (-1, 0 or 1); emits get the same.
	Acks int16
}

// Pending is an appended produce whose acknowledgement may still be
// outstanding (replication, fsync, emits).
type Pending struct {
	Result partition.AppendResult
	p      *partition.Partition
	acks   int16
}

// Append runs one partition's produce through the topic's transform,
// appends the result and sends the transform's emits. It returns once the
// records are appended (so appends keep request order); Wait then waits
// for the acknowledgement the request's acks ask for.
//
// Stub: appends without plugins. Replaced by the pipeline implementation.
func (p *Pipeline) Append(ctx context.Context, req AppendRequest) (*Pending, error) {
	part, err := p.b.Partition(req.Topic, req.Partition)
	if err != nil {
		return nil, err
	}
	if req.Acks == -1 {
		if err := part.CheckMinISR(); err != nil {
			return nil, err
		}
	}
	res, err := part.Append(req.Batch)
	if err != nil {
		return nil, err
	}
	return &Pending{Result: res, p: part, acks: req.Acks}, nil
}

// Wait waits until the produce is acknowledged as its acks ask: acks=-1
// committed by the ISR, acks=1 on the leader (fsynced on durable topics),
// acks=0 nothing (durable topics fsync in the background).
func (pd *Pending) Wait(ctx context.Context) error {
	switch pd.acks {
	case -1:
		return pd.p.WaitCommitted(ctx, pd.Result)
	case 1:
		if pd.p.Durable() {
			return pd.p.WaitDurable(pd.Result)
		}
	default:
		if pd.p.Durable() {
			go pd.p.WaitDurable(pd.Result)
		}
	}
	return nil
}
