package partition

import (
	"errors"
	"testing"

	"github.com/sluicemq/sluice/core/storage"
)

func hdr(pid int64, epoch int16, seq, n int32, base int64) storage.BatchHeader {
	return storage.BatchHeader{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, BaseOffset: base}
}

func TestProducersSequencing(t *testing.T) {
	p := newProducers()
	// First batch of a new producer is accepted and recorded.
	if err := p.check(hdr(7, 0, 0, 10, 0)); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	p.record(hdr(7, 0, 0, 10, 0))
	// Next in sequence.
	if err := p.check(hdr(7, 0, 10, 5, 10)); err != nil {
		t.Fatalf("next batch: %v", err)
	}
	p.record(hdr(7, 0, 10, 5, 10))
	// A retry of either batch is a duplicate with its original offset.
	var dup *errDuplicate
	if err := p.check(hdr(7, 0, 0, 10, -1)); !errors.As(err, &dup) || dup.baseOffset != 0 {
		t.Fatalf("retry of batch 1: got %v", err)
	}
	if err := p.check(hdr(7, 0, 10, 5, -1)); !errors.As(err, &dup) || dup.baseOffset != 10 {
		t.Fatalf("retry of batch 2: got %v", err)
	}
	// A gap is out of order.
	if err := p.check(hdr(7, 0, 16, 1, -1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: got %v", err)
	}
	// An older epoch is fenced; a newer epoch must restart at 0.
	p.record(hdr(7, 1, 0, 1, 15))
	if err := p.check(hdr(7, 0, 15, 1, -1)); !errors.Is(err, ErrStaleProducerEpoch) {
		t.Fatalf("old epoch: got %v", err)
	}
	if err := p.check(hdr(7, 2, 3, 1, -1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: got %v", err)
	}
	// Non-idempotent batches are never checked.
	if err := p.check(hdr(-1, -1, -1, 3, -1)); err != nil {
		t.Fatalf("plain batch: %v", err)
	}
}

func TestProducersDedupeWindowIsFive(t *testing.T) {
	p := newProducers()
	for i := int32(0); i < 7; i++ {
		p.record(hdr(1, 0, i, 1, int64(i)))
	}
	e := p.m[1]
	if len(e.Batches) != dedupeWindow {
		t.Fatalf("window holds %d batches, want %d", len(e.Batches), dedupeWindow)
	}
	// Batches 2..6 are remembered, 0 and 1 are not.
	var dup *errDuplicate
	for i := int32(2); i < 7; i++ {
		if err := p.check(hdr(1, 0, i, 1, -1)); !errors.As(err, &dup) || dup.baseOffset != int64(i) {
			t.Fatalf("seq %d: got %v", i, err)
		}
	}
	if err := p.check(hdr(1, 0, 1, 1, -1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("seq 1 (outside window): got %v", err)
	}
}

func TestSeqAddWraps(t *testing.T) {
	if got := seqAdd(2147483647, 1); got != 0 {
		t.Fatalf("seqAdd(MaxInt32, 1) = %d, want 0", got)
	}
	if got := seqAdd(5, 3); got != 8 {
		t.Fatalf("seqAdd(5, 3) = %d", got)
	}
}
