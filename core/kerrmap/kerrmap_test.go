package kerrmap_test

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

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/pipeline"
)

// want is the Kafka error each sentinel of the inner layers must be
// answered with: what a Kafka broker sends in the same situation. A nil
// Kafka error marks a sentinel with no kind, which the edges answer
// themselves (core/kafka's produce handler, the bridge's HTTP statuses)
// and which maps to UNKNOWN_SERVER_ERROR anywhere else.
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
	"partition.ErrTxnNotVerified":       {partition.ErrTxnNotVerified, kerr.InvalidTxnState},
	"partition.ErrCoordinatorFenced":    {partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	"partition.ErrNoProducerID":         {partition.ErrNoProducerID, kerr.InvalidProducerIDMapping},
	"partition.ErrCommitTimeout":        {partition.ErrCommitTimeout, kerr.RequestTimedOut},
	"partition.ErrNotEnoughReplicas":    {partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	"partition.ErrCommittedUnderMinISR": {partition.ErrCommittedUnderMinISR, kerr.NotEnoughReplicasAfterAppend},

	"meta.ErrUnknownTopic": {meta.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	"meta.ErrTopicExists":  {meta.ErrTopicExists, kerr.TopicAlreadyExists},

	"broker.ErrUnknownTopic":             {broker.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	"broker.ErrNotHosted":                {broker.ErrNotHosted, kerr.NotLeaderForPartition},
	"broker.ErrReplicaOffline":           {broker.ErrReplicaOffline, kerr.KafkaStorageError},
	"broker.ErrTopicExists":              {broker.ErrTopicExists, kerr.TopicAlreadyExists},
	"broker.ErrInvalidTopicName":         {broker.ErrInvalidTopicName, kerr.InvalidTopicException},
	"broker.ErrInvalidPartitions":        {broker.ErrInvalidPartitions, kerr.InvalidPartitions},
	"broker.ErrInvalidReplicationFactor": {broker.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	"broker.ErrInvalidConfig":            {broker.ErrInvalidConfig, kerr.InvalidConfig},
	"broker.ErrUnknownConfigOp":          {broker.ErrUnknownConfigOp, kerr.InvalidRequest},
	"broker.ErrReassignmentInProgress":   {broker.ErrReassignmentInProgress, kerr.ReassignmentInProgress},
	"broker.ErrCoordinatorNotAvailable":  {broker.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	"broker.ErrStorage":                  {broker.ErrStorage, kerr.KafkaStorageError},

	"pipeline.ErrUnknownTopic":       {pipeline.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	"pipeline.ErrCorruptBatch":       {pipeline.ErrCorruptBatch, kerr.CorruptMessage},
	"pipeline.ErrReservedProducerID": {pipeline.ErrReservedProducerID, kerr.InvalidProducerIDMapping},
	"pipeline.ErrEmitTimeout":        {pipeline.ErrEmitTimeout, kerr.RequestTimedOut},
	"pipeline.ErrLeaderNotAvailable": {pipeline.ErrLeaderNotAvailable, kerr.LeaderNotAvailable},
	"pipeline.ErrInternalTopic":      {pipeline.ErrInternalTopic, kerr.PolicyViolation},
	"pipeline.ErrBadPartition":       {pipeline.ErrBadPartition, nil},
	"pipeline.ErrBadResponse":        {pipeline.ErrBadResponse, kerr.UnknownServerError},
}

// internal are errors that never reach a client: the replica fetcher
// handles them itself.
var internal = map[string]bool{"partition.ErrStaleEpoch": true, "partition.ErrDiverged": true}

func TestEverySentinelMapsToKafkasCode(t *testing.T) {
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			if w.kafka == nil {
				if got := kerrmap.Code(w.err); got != kerr.UnknownServerError.Code {
					t.Errorf("code %d, want UNKNOWN_SERVER_ERROR (no kind)", got)
				}
				if _, ok := kerrmap.Lookup(w.err); ok {
					t.Error("a sentinel without a kind has a Kafka error")
				}
				return
			}
			if got := kerrmap.Code(w.err); got != w.kafka.Code {
				t.Errorf("code %d (%v), want %d (%s)", got, kerr.ErrorForCode(got), w.kafka.Code, w.kafka.Message)
			}
			// Detail wrapped around the error keeps its code.
			if got := kerrmap.Code(fmt.Errorf("topic t-0: %w", w.err)); got != w.kafka.Code {
				t.Errorf("wrapped: code %d, want %d", got, w.kafka.Code)
			}
			if !kerrmap.Is(w.err, w.kafka) {
				t.Errorf("Is(%s) = false", w.kafka.Message)
			}
			// A bare sentinel's client message reads as the Kafka error
			// did when the inner layers returned kerr values.
			if m := kerrmap.Message(w.err); m == nil || *m != w.kafka.Error() {
				t.Errorf("message %v, want %q", m, w.kafka.Error())
			}
		})
	}
}

// Every kind has a code: a kind added without one would answer
// UNKNOWN_SERVER_ERROR.
func TestEveryKindHasACode(t *testing.T) {
	if kerrmap.ForKind(errkind.Unknown) != nil || kerrmap.ForKind(errkind.NumKinds) != nil {
		t.Fatal("Unknown and out-of-range kinds must have no code")
	}
	for k := errkind.Unknown + 1; k < errkind.NumKinds; k++ {
		if kerrmap.ForKind(k) == nil {
			t.Errorf("kind %d has no Kafka code", k)
		}
	}
}

// TestTableCoversSentinels fails when core/partition, core/broker or
// core/pipeline gains an exported error that neither the test's list nor
// the internal list knows: a new error must be given its kind and code.
func TestTableCoversSentinels(t *testing.T) {
	for _, pkg := range []struct {
		dir string
		min int
	}{{"partition", len(internal) + 16}, {"broker", 12}, {"pipeline", 8}} {
		fset := token.NewFileSet()
		files, err := filepath.Glob("../" + pkg.dir + "/*.go")
		if err != nil || len(files) == 0 {
			t.Fatalf("%s sources: %v %v", pkg.dir, files, err)
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
						name := pkg.dir + "." + n.Name
						if _, ok := want[name]; !ok && !internal[name] {
							t.Errorf("%s has no Kafka code in the test's list", name)
						}
					}
				}
			}
		}
		if found < pkg.min {
			t.Fatalf("found %d %s errors; the parse missed some", found, pkg.dir)
		}
	}
}

func TestDetailedRemoteAndUnknownErrors(t *testing.T) {
	// The validator's refusals carry their reason and keep the code.
	ib := &partition.InvalidBatchError{Err: partition.ErrInvalidRecord, Reason: "record 0 has no key"}
	if got := kerrmap.Code(fmt.Errorf("append: %w", ib)); got != kerr.InvalidRecord.Code {
		t.Fatalf("invalid batch: code %d", got)
	}
	if m := kerrmap.Message(ib); m == nil || *m != ib.Error() {
		t.Fatalf("invalid batch message %v", m)
	}
	// A broker error's detail follows the Kafka name.
	be := &broker.Error{Err: broker.ErrInvalidTopicName, Msg: "topic name is empty"}
	if got := kerrmap.Code(be); got != kerr.InvalidTopicException.Code {
		t.Fatalf("broker error: code %d", got)
	}
	if m := kerrmap.Message(be); m == nil || *m != "INVALID_TOPIC_EXCEPTION: topic name is empty" {
		t.Fatalf("broker error message %v", m)
	}
	// A config value's problem is INVALID_CONFIG, told as itself.
	ce := &broker.ConfigError{Name: "segment.ms", Value: "x", Reason: "not a number"}
	if got := kerrmap.Code(fmt.Errorf("alter: %w", ce)); got != kerr.InvalidConfig.Code {
		t.Fatalf("config error: code %d", got)
	}
	if m := kerrmap.Message(ce); m == nil || *m != ce.Error() {
		t.Fatalf("config error message %v", m)
	}
	// A refining sentinel still matches the one it refines.
	if !errors.Is(broker.ErrNotHosted, partition.ErrNotLeader) || !errors.Is(broker.ErrUnknownTopic, meta.ErrUnknownTopic) {
		t.Fatal("broker sentinels must wrap the inner ones")
	}
	// A remote broker's answer, relayed by an internal client, passes.
	if got := kerrmap.Code(fmt.Errorf("emit: %w", kerrmap.FromCode(kerr.LeaderNotAvailable.Code))); got != kerr.LeaderNotAvailable.Code {
		t.Fatalf("remote: code %d", got)
	}
	if kerrmap.FromCode(0) != nil {
		t.Fatal("code 0 is no error")
	}
	if !kerrmap.Retriable(kerrmap.FromCode(kerr.NotLeaderForPartition.Code)) || !kerrmap.Retriable(partition.ErrCommitTimeout) ||
		kerrmap.Retriable(pipeline.ErrInternalTopic) || kerrmap.Retriable(errors.New("x")) {
		t.Fatal("Retriable answers wrongly")
	}
	if !kerrmap.Is(kerr.NotLeaderForPartition, kerr.NotLeaderForPartition) || kerrmap.Is(partition.ErrNotLeader, kerr.OffsetOutOfRange) {
		t.Fatal("Is matches the wrong errors")
	}
	// Errors nothing knows are UNKNOWN_SERVER_ERROR, told as themselves.
	for _, err := range []error{errors.New("something else"), fmt.Errorf("wrapped: %w", errors.New("x")), partition.ErrStaleEpoch} {
		if got := kerrmap.Code(err); got != kerr.UnknownServerError.Code {
			t.Errorf("%v: code %d, want UNKNOWN_SERVER_ERROR", err, got)
		}
		if m := kerrmap.Message(err); m == nil || *m != err.Error() {
			t.Errorf("%v: message %v", err, m)
		}
		if _, ok := kerrmap.Lookup(err); ok {
			t.Errorf("%v: lookup of an unknown error succeeded", err)
		}
	}
	if kerrmap.Code(nil) != 0 || kerrmap.Message(nil) != nil {
		t.Fatal("nil must be no error")
	}
}
