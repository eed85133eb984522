package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/needs"
)

// librdkafkaRecord is one record as testdata/librdkafka_txn.py reports it.
type librdkafkaRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
}

// librdkafkaTxn is what testdata/librdkafka_txn.py prints.
type librdkafkaTxn struct {
	Produced    []librdkafkaRecord `json:"produced"`
	Committed   []librdkafkaRecord `json:"committed"`
	Uncommitted []librdkafkaRecord `json:"uncommitted"`
	Transformed []librdkafkaRecord `json:"transformed"`
	SentOffsets map[string]int64   `json:"sent_offsets"`
	AfterAbort  map[string]int64   `json:"committed_after_abort"`
}

// TestTxnLibrdkafka: librdkafka's transactional producer (Debian's
// python3-confluent-kafka) commits, aborts and commits a transaction over
// 2 partitions; its read_committed consumer sees exactly the committed
// records and its read_uncommitted consumer all of them, at the offsets
// the producer was acknowledged (each transaction's commit or abort
// marker takes one offset in each partition). Then a
// consume-transform-produce round aborts its output and the offsets it
// sent (send_offsets_to_transaction): neither is visible; a second round
// commits, and the group's committed offsets are the consumer's positions.
func TestTxnLibrdkafka(t *testing.T) {
	t.Parallel()
	const (
		topic, outTopic, group = "lrk-txn", "lrk-txn-out", "lrk-ctp"
		perTxn                 = 6 // records per transaction, alternating partitions 0 and 1
		perPart                = perTxn / 2
	)
	py := needs.ConfluentKafka(t)
	ctx := testContext(t, 150*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, topic, 2, nil)
	createTopic(ctx, t, adm, outTopic, 2, nil)

	runCtx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, py, "testdata/librdkafka_txn.py", b.Addr(), topic, outTopic, group, strconv.Itoa(perTxn))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("librdkafka_txn.py: %v\nstdout:\n%s\nstderr:\n%s\nbroker:\n%s", err, stdout.String(), stderr.String(), b.stderr)
	}
	var got librdkafkaTxn
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("decode script output: %v\n%s", err, stdout.String())
	}

	// Where each input record must be: transaction j (c1, a1, c2) holds
	// offsets j*(perPart+1) .. +perPart-1 of each partition, its marker
	// the next one; record i goes to partition i%2.
	at := func(prefix string, txn int) []librdkafkaRecord {
		rs := make([]librdkafkaRecord, perTxn)
		for i := range rs {
			rs[i] = librdkafkaRecord{Partition: int32(i % 2), Offset: int64(txn*(perPart+1) + i/2), Value: fmt.Sprintf("%s-%d", prefix, i)}
		}
		return rs
	}
	c1, a1, c2 := at("c1", 0), at("a1", 1), at("c2", 2)
	// The transformed rounds' output: each writes every committed input
	// record, prefixed, to its partition in the order consumed (offset
	// order within a partition); the aborted "x-" round first, then its
	// marker, then the committed "t-" round.
	transformed := func(prefix string, first int64) []librdkafkaRecord {
		var out []librdkafkaRecord
		for _, r := range concatRecords(c1, c2) {
			out = append(out, librdkafkaRecord{Partition: r.Partition, Value: prefix + r.Value})
		}
		for i := range out {
			out[i].Offset = first + int64(countBefore(out[:i], out[i].Partition))
		}
		return out
	}
	aborted, out := transformed("x-", 0), transformed("t-", 2*perPart+1)

	if len(got.Produced) != 3*perTxn+len(aborted)+len(out) {
		t.Fatalf("%d delivery reports, want %d", len(got.Produced), 3*perTxn+len(aborted)+len(out))
	}
	wantRecords(t, "delivery reports", got.Produced[:3*perTxn], concatRecords(c1, a1, c2))
	wantRecords(t, "aborted output delivery reports", got.Produced[3*perTxn:3*perTxn+len(aborted)], aborted)
	wantRecords(t, "output delivery reports", got.Produced[3*perTxn+len(aborted):], out)
	wantRecords(t, "read_committed", got.Committed, concatRecords(c1, c2))
	wantRecords(t, "read_uncommitted", got.Uncommitted, concatRecords(c1, a1, c2))
	wantRecords(t, "consume-transform-produce input", got.Transformed, concatRecords(c1, c2))

	// The group's offsets are those sent with the transaction: the
	// consumer's positions, which librdkafka moves past the commit marker
	// after each partition's last record (the script polls on until they
	// reach the high watermarks), so the partitions' ends.
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	for p := int32(0); p < 2; p++ {
		// librdkafka's OFFSET_INVALID: the group has no offset.
		if o, ok := got.AfterAbort[strconv.Itoa(int(p))]; !ok || o != -1001 {
			t.Errorf("partition %d: group's committed offset after the aborted round %d (reported %v), want none (-1001)", p, o, ok)
		}
		want := int64(3 * (perPart + 1))
		if sent := got.SentOffsets[strconv.Itoa(int(p))]; sent != want {
			t.Errorf("partition %d: script sent offset %d, want %d", p, sent, want)
		}
		if o, ok := offs.Lookup(topic, p); !ok || o.Err != nil || o.At != want {
			t.Errorf("group %s committed offset of %s[%d]: %+v (found %v), want %d", group, topic, p, o, ok, want)
		}
	}
	ends := endOffsets(ctx, t, adm, topic)
	outEnds := endOffsets(ctx, t, adm, outTopic)
	for p := int32(0); p < 2; p++ {
		if ends[p] != 3*(perPart+1) {
			t.Errorf("%s[%d] end offset %d, want %d (3 transactions of %d records and a marker)", topic, p, ends[p], 3*(perPart+1), perPart)
		}
		if outEnds[p] != 2*(2*perPart+1) {
			t.Errorf("%s[%d] end offset %d, want %d (two transactions of %d records and their markers)", outTopic, p, outEnds[p], 2*(2*perPart+1), 2*perPart)
		}
	}
	var wantOut []string
	for _, r := range out {
		wantOut = append(wantOut, r.Value)
	}
	wantValues(t, "output under read_committed (kgo)", readValues(ctx, t, b, outTopic, true, len(out), time.Second), wantOut)
	for _, r := range aborted {
		wantOut = append(wantOut, r.Value)
	}
	wantValues(t, "output under read_uncommitted (kgo)", readValues(ctx, t, b, outTopic, false, len(wantOut), time.Second), wantOut)
}

func countBefore(rs []librdkafkaRecord, partition int32) int {
	n := 0
	for _, r := range rs {
		if r.Partition == partition {
			n++
		}
	}
	return n
}

func concatRecords(parts ...[]librdkafkaRecord) []librdkafkaRecord {
	var out []librdkafkaRecord
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wantRecords compares records as sets keyed by value (clients interleave
// partitions freely), and checks each partition's records arrived in
// offset order.
func wantRecords(t testing.TB, what string, got, want []librdkafkaRecord) {
	t.Helper()
	byValue := make(map[string]librdkafkaRecord, len(want))
	for _, r := range want {
		byValue[r.Value] = r
	}
	seen := make(map[string]bool, len(got))
	last := map[int32]int64{}
	for _, r := range got {
		w, ok := byValue[r.Value]
		switch {
		case !ok:
			t.Errorf("%s: unexpected record %+v", what, r)
		case seen[r.Value]:
			t.Errorf("%s: record %+v twice", what, r)
		case r != w:
			t.Errorf("%s: record %+v, want %+v", what, r, w)
		}
		seen[r.Value] = true
		if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
			t.Errorf("%s: partition %d offset %d after %d", what, r.Partition, r.Offset, prev)
		}
		last[r.Partition] = r.Offset
	}
	for _, r := range want {
		if !seen[r.Value] {
			t.Errorf("%s: missing record %+v", what, r)
		}
	}
}
