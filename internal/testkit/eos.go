package testkit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Exactly-once read-process-write, shared by the single-node and the
// cluster crash tests: an input topic of numbered records, an ETL loop of
// kgo GroupTransactSessions copying it to an output topic while brokers
// are killed, and the check that the output read with read_committed holds
// every input record exactly once.

// EOSValue is the value of input record i: fixed width, so sorted values
// are in number order.
func EOSValue(i int) string { return fmt.Sprintf("rec-%07d", i) }

// ProduceEOSInput produces records 0..n-1 (EOSValue, keyed by number, so
// that partitions get interleaved ranges) to topic with an idempotent
// acks=all producer and waits for all of them.
func ProduceEOSInput(ctx context.Context, opts []kgo.Opt, topic string, n int) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(20000))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		mu    sync.Mutex
		first error
	)
	for i := 0; i < n; i++ {
		v := EOSValue(i)
		cl.Produce(ctx, &kgo.Record{Key: []byte(v[4:]), Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return first
}

// ETL copies In to Out with kgo GroupTransactSessions, as a Kafka stream
// processor does: each batch of polled records is produced to Out and the
// group's offsets committed in one transaction. A session whose End fails
// (kgo: "no returned error is retryable") is closed and replaced by a new
// one with the same transactional id, which fences and aborts what the old
// one left open.
type ETL struct {
	ClientOpts []kgo.Opt // seeds included
	Group      string
	TxnID      string
	In, Out    string
	// MaxPollRecords bounds a transaction's records (2000 when 0).
	MaxPollRecords int
	// Logf receives the loop's events (session restarts, errors).
	Logf func(format string, args ...any)
	// Log, when set, receives kgo's own log at info level.
	Log func(string)

	committed atomic.Int64 // records in transactions End reported committed
	txns      atomic.Int64 // transactions End reported committed
	aborted   atomic.Int64 // transactions End reported not committed
	restarts  atomic.Int64 // sessions replaced after an error
}

// Committed is how many records were in transactions End reported
// committed (a commit whose answer was lost is not counted).
func (e *ETL) Committed() int64 { return e.committed.Load() }

// Stats summarises the run.
func (e *ETL) Stats() string {
	return fmt.Sprintf("%d records in %d committed transactions, %d ended without commit, %d session restarts",
		e.committed.Load(), e.txns.Load(), e.aborted.Load(), e.restarts.Load())
}

func (e *ETL) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

func (e *ETL) session() (*kgo.GroupTransactSession, error) {
	opts := append(append([]kgo.Opt(nil), e.ClientOpts...),
		kgo.TransactionalID(e.TxnID),
		// Shorter than the run: a transaction a killed broker's restart
		// leaves open is aborted by the coordinator even if no new
		// session of the id comes (one always does here).
		kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup(e.Group),
		kgo.ConsumeTopics(e.In),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.DefaultProduceTopic(e.Out),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.RetryTimeout(45*time.Second),
		kgo.RecordDeliveryTimeout(45*time.Second),
		kgo.SessionTimeout(20*time.Second),
		kgo.RebalanceTimeout(30*time.Second),
	)
	if e.Log != nil {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(lineWriter(e.Log), kgo.LogLevelInfo, nil)))
	}
	return kgo.NewGroupTransactSession(opts...)
}

// lineWriter adapts a line logger to an io.Writer.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Run runs the loop until the group's committed offsets of In reach ends
// (the input's end offsets) or ctx ends.
func (e *ETL) Run(ctx context.Context, ends map[int32]int64) error {
	max := e.MaxPollRecords
	if max <= 0 {
		max = 2000
	}
	adm, err := kgo.NewClient(append(append([]kgo.Opt(nil), e.ClientOpts...), kgo.RetryTimeout(2*time.Second))...)
	if err != nil {
		return err
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	sess, err := e.session()
	if err != nil {
		return err
	}
	defer func() { sess.Close() }()
	restart := func(why string, err error) error {
		e.restarts.Add(1)
		e.logf("etl %s: %s: %v; replacing the session", e.TxnID, why, err)
		sess.Close()
		s, nerr := e.session()
		if nerr != nil {
			return nerr
		}
		sess = s
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("etl %s: %w (%s)", e.TxnID, err, e.Stats())
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollRecords(pctx, max)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				e.logf("etl %s: fetch %s[%d]: %v", e.TxnID, topic, p, err)
			}
		})
		n := fs.NumRecords()
		if n == 0 {
			if done, _ := groupAt(ctx, admin, e.Group, e.In, ends); done {
				return nil
			}
			continue
		}
		if err := sess.Begin(); err != nil {
			if err := restart("begin", err); err != nil {
				return err
			}
			continue
		}
		fs.EachRecord(func(r *kgo.Record) {
			// Produce errors abort the transaction: End sees the
			// producer failed and does not commit.
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		})
		// End is bounded: a flush that never completes (seen once in a
		// loaded race run: a session whose transaction spanned a broker
		// kill kept its flush waiting 3.5 min, past its records' 45 s
		// delivery timeout, while its group member heartbeated on) would
		// stall the loop for good. An application gives up on the
		// session and starts a new one, as restart does; the coordinator
		// aborts the abandoned transaction and fences its producer.
		ectx, ecancel := context.WithTimeout(ctx, endTimeout)
		committed, err := sess.End(ectx, kgo.TryCommit)
		ecancel()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("etl %s: %w (%s)", e.TxnID, ctx.Err(), e.Stats())
			}
			if err := restart("end", err); err != nil {
				return err
			}
		case committed:
			e.committed.Add(int64(n))
			e.txns.Add(1)
		default:
			e.aborted.Add(1)
		}
	}
}

// endTimeout bounds one End: above the sessions' 45 s record delivery
// timeout, so a flush that can finish does.
const endTimeout = 60 * time.Second

// groupAt reports whether group's committed offsets of topic are ends.
func groupAt(ctx context.Context, adm *kadm.Client, group, topic string, ends map[int32]int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	for p, end := range ends {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != end {
			return false, nil
		}
	}
	return true, nil
}

// EOSCheck compares values read from the output with input records
// 0..n-1: it returns "" when each appears exactly once, else a report of
// the duplicates, the missing and the foreign values (the first few of
// each, and their counts).
func EOSCheck(values []string, n int) string {
	count := make(map[string]int, len(values))
	for _, v := range values {
		count[v]++
	}
	var dups, foreign []string
	dupExtra := 0
	for v, c := range count {
		i, err := strconv.Atoi(strings.TrimPrefix(v, "rec-"))
		if !strings.HasPrefix(v, "rec-") || err != nil || i < 0 || i >= n || EOSValue(i) != v {
			foreign = append(foreign, fmt.Sprintf("%q×%d", v, c))
			continue
		}
		if c > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", v, c))
			dupExtra += c - 1
		}
	}
	var missing []string
	for i := 0; i < n; i++ {
		if count[EOSValue(i)] == 0 {
			missing = append(missing, EOSValue(i))
		}
	}
	if len(dups) == 0 && len(missing) == 0 && len(foreign) == 0 && len(values) == n {
		return ""
	}
	sort.Strings(dups)
	sort.Strings(foreign)
	first := func(s []string) string {
		if len(s) > 20 {
			return strings.Join(s[:20], " ") + " …"
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("read %d values for %d input records: %d duplicated (%d extra copies) [%s]; %d missing [%s]; %d foreign [%s]",
		len(values), n, len(dups), dupExtra, first(dups), len(missing), first(missing), len(foreign), first(foreign))
}

// ReadCommittedValues reads topic from the start with read_committed until
// it has at least want records and nothing more came for quiet; it
// returns every value read (duplicates included).
func ReadCommittedValues(ctx context.Context, opts []kgo.Opt, topic string, want int, quiet time.Duration) ([]string, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.MetadataMinAge(250*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []string
	var quietSince time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %w after %d of %d records", topic, err, len(out), want)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)); n++ })
		switch {
		case n > 0 || len(out) < want:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) > quiet:
			return out, nil
		}
	}
}
