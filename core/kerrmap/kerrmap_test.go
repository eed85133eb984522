package kerrmap

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// want is the Kafka error each typed error must be answered with: what a
// Kafka broker sends in the same situation.
var want = map[string]struct {
	err   error
	kafka *kerr.Error
}{
	"partition.ErrNotLeader":            {partition.ErrNotLeader, kerr.NotLeaderForPartition},
	"partition.ErrUnknownReplica":       {partition.ErrUnknownReplica, kerr.UnknownTopicOrPartition},
	"partition.ErrOffsetOutOfRange":     {partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	"partition.ErrStorage":              {partition.ErrStorage, kerr.KafkaStorageError},
	"partition.ErrCorruptMessage":       {partition.ErrCorruptMessage, kerr.CorruptMessage},
	"partition.ErrInvalidRecord":        {partition.ErrInvalidRecord, kerr.InvalidRecord},
	"partition.ErrMessageTooLarge":      {partition.ErrMessageTooLarge, kerr.MessageTooLarge},
	"partition.ErrLegacyMessageFormat":  {partition.ErrLegacyMessageFormat, kerr.UnsupportedForMessageFormat},
	"partition.ErrOutOfOrderSequence":   {partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	"partition.ErrStaleProducerEpoch":   {partition.ErrStaleProducerEpoch, kerr.InvalidProducerEpoch},
	"partition.ErrTxnOpen":              {partition.ErrTxnOpen, kerr.InvalidTxnState},
	"partition.ErrCoordinatorFenced":    {partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	"partition.ErrNoProducerID":         {partition.ErrNoProducerID, kerr.InvalidProducerIDMapping},
	"partition.ErrCommitTimeout":        {partition.ErrCommitTimeout, kerr.RequestTimedOut},
	"partition.ErrNotEnoughReplicas":    {partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	"partition.ErrCommittedUnderMinISR": {partition.ErrCommittedUnderMinISR, kerr.NotEnoughReplicasAfterAppend},
	"meta.ErrUnknownTopic":              {meta.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	"meta.ErrTopicExists":               {meta.ErrTopicExists, kerr.TopicAlreadyExists},
}

// internal are partition errors that never reach a client: the replica
// fetcher handles them itself.
var internal = map[string]bool{"partition.ErrStaleEpoch": true, "partition.ErrDiverged": true}

func TestEveryTypedErrorMapsToKafkasCode(t *testing.T) {
	for name, w := range want {
		if got := Code(w.err); got != w.kafka.Code {
			t.Errorf("%s: code %d (%v), want %d (%s)", name, got, kerr.ErrorForCode(got), w.kafka.Code, w.kafka.Message)
		}
		// Detail wrapped around the error keeps its code.
		if got := Code(fmt.Errorf("topic t-0: %w", w.err)); got != w.kafka.Code {
			t.Errorf("%s wrapped: code %d, want %d", name, got, w.kafka.Code)
		}
		if !Is(w.err, w.kafka) {
			t.Errorf("Is(%s, %s) = false", name, w.kafka.Message)
		}
		// A bare sentinel's client message reads as the Kafka error did
		// when the partition returned kerr values.
		if m := Message(w.err); m == nil || *m != w.kafka.Error() {
			t.Errorf("%s: message %v, want %q", name, m, w.kafka.Error())
		}
	}
}

// TestTableCoversPartitionErrors fails when core/partition gains an
// exported error that neither the table nor the internal list knows: a
// new error must be given its Kafka code here.
func TestTableCoversPartitionErrors(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("../partition/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("partition sources: %v %v", files, err)
	}
	var found int
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if !n.IsExported() || !strings.HasPrefix(n.Name, "Err") {
						continue
					}
					found++
					name := "partition." + n.Name
					if _, ok := want[name]; !ok && !internal[name] {
						t.Errorf("%s has no Kafka code in the table (or the test's list)", name)
					}
				}
			}
		}
	}
	if found < len(internal)+16 {
		t.Fatalf("found %d partition errors; the parse missed some", found)
	}
	for _, e := range Table {
		var named bool
		for _, w := range want {
			named = named || w.err == e.Err
		}
		if !named {
			t.Errorf("table entry %v (%s) is not checked by this test", e.Err, e.Kafka.Message)
		}
	}
}

func TestWrappedAndRemoteErrors(t *testing.T) {
	// The validator's refusals carry their reason and keep the code.
	ib := &partition.InvalidBatchError{Err: partition.ErrInvalidRecord, Reason: "record 0 has no key"}
	if got := Code(fmt.Errorf("append: %w", ib)); got != kerr.InvalidRecord.Code {
		t.Fatalf("invalid batch: code %d", got)
	}
	if m := Message(ib); m == nil || *m != ib.Error() {
		t.Fatalf("invalid batch message %v", m)
	}
	// A remote broker's answer, relayed by an internal client, passes.
	if got := Code(fmt.Errorf("emit: %w", kerr.LeaderNotAvailable)); got != kerr.LeaderNotAvailable.Code {
		t.Fatalf("remote: code %d", got)
	}
	if !Is(kerr.NotLeaderForPartition, kerr.NotLeaderForPartition) || Is(partition.ErrNotLeader, kerr.OffsetOutOfRange) {
		t.Fatal("Is matches the wrong errors")
	}
	if got := Code(errors.New("something else")); got != kerr.UnknownServerError.Code {
		t.Fatalf("unknown error: code %d", got)
	}
	if Code(nil) != 0 || Message(nil) != nil {
		t.Fatal("nil must be no error")
	}
	if _, ok := Lookup(errors.New("x")); ok {
		t.Fatal("lookup of an unknown error succeeded")
	}
}
