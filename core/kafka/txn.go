package kafka

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/txn"
)

// Transactions is the transaction coordinator bound to a broker: it
// creates __transaction_state on the first transactional FindCoordinator
// (as Kafka does) and coordinates the partitions of it this broker leads.
type Transactions struct {
	*txn.Coordinator
	b      *broker.Broker
	single bool // the embedded single-node store: this broker leads all
	mu     sync.Mutex
}

// transactionStateReplication is transaction.state.log.replication.factor,
// bounded by the brokers alive when the topic is created; the topic's
// min.insync.replicas is transaction.state.log.min.isr (2), bounded alike.
const transactionStateReplication = 3

// NewTransactions starts the transaction coordinator of b; markers writes
// the commit/abort markers. In a cluster, the replica manager's
// leadership hook must also call Leadership (before LoadLed).
func NewTransactions(b *broker.Broker, markers txn.MarkerWriter, logger *slog.Logger) (*Transactions, error) {
	if markers == nil {
		return nil, errors.New("kafka: transactions need a marker writer")
	}
	n := int32(txn.DefaultPartitions)
	if p := b.Config().TransactionStatePartitions; p > 0 {
		n = p
	}
	if t, ok := b.Topic(txn.TopicName); ok && len(t.Partitions) > 0 {
		n = int32(len(t.Partitions))
	}
	_, single := b.Store().(*meta.Local)
	c := txn.New(txn.Config{
		Partitions:         n,
		Partition:          func(i int32) (*partition.Partition, error) { return b.Partition(txn.TopicName, i) },
		AllocateProducerID: b.AllocateProducerID,
		Markers:            markers,
		MaxTimeout:         b.Config().TransactionMaxTimeout,
		AbortInterval:      b.Config().TransactionAbortInterval,
		IDExpiration:       b.Config().TransactionalIDExpiration,
		ExpireInterval:     b.Config().TransactionRemoveExpiredInterval,
		OnDemand:           true,
		Logger:             logger.With("component", "transactions"),
	})
	if err := c.Start(); err != nil {
		return nil, err
	}
	t := &Transactions{Coordinator: c, b: b, single: single}
	t.LoadLed()
	return t, nil
}

// LoadLed coordinates the __transaction_state partitions this broker
// leads now (at start; afterwards the leadership hook keeps up).
func (t *Transactions) LoadLed() {
	top, ok := t.b.Topic(txn.TopicName)
	if !ok {
		return
	}
	for i := range top.Partitions {
		p, err := t.b.Partition(txn.TopicName, int32(i))
		if err != nil {
			continue
		}
		if leader, _, _, _ := p.Role(); leader {
			t.Leadership(p, true)
		}
	}
}

// createTopic creates __transaction_state (compacted, like Kafka's).
func (t *Transactions) createTopic() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if top, ok := t.b.Topic(txn.TopicName); ok && len(top.Partitions) > 0 {
		return nil
	}
	rf := int16(min(transactionStateReplication, len(t.b.Store().Brokers())))
	_, err := t.b.CreateTopic(broker.TopicSpec{
		Name:              txn.TopicName,
		Partitions:        t.PartitionCount(),
		ReplicationFactor: rf,
		Configs: map[string]string{
			"cleanup.policy":      "compact",
			"segment.bytes":       "104857600",
			"min.insync.replicas": strconv.Itoa(int(min(2, rf))),
		},
	}, false)
	if err != nil && !errors.Is(err, broker.ErrTopicExists) {
		return fmt.Errorf("create %s: %w", txn.TopicName, err)
	}
	if t.single {
		// No leadership hook in single-node mode: this broker leads
		// every partition as soon as it exists.
		t.LoadLed()
	}
	return nil
}

// coordinatorFor is the broker coordinating transactionalID: the leader
// of its __transaction_state partition.
func (t *Transactions) coordinatorFor(id string) (int32, string, int32, error) {
	top, ok := t.b.Topic(txn.TopicName)
	if !ok || len(top.Partitions) == 0 {
		if err := t.createTopic(); err != nil {
			return -1, "", -1, &kafkaError{code: kerr.CoordinatorNotAvailable, msg: err.Error()}
		}
		if top, ok = t.b.Topic(txn.TopicName); !ok || len(top.Partitions) == 0 {
			return -1, "", -1, kerr.CoordinatorNotAvailable
		}
	}
	leader := top.Partitions[txn.PartitionFor(id, int32(len(top.Partitions)))].Leader
	for _, br := range t.b.Store().Brokers() {
		if br.ID == leader {
			return br.ID, br.Host, br.Port, nil
		}
	}
	return -1, "", -1, &kafkaError{code: kerr.CoordinatorNotAvailable, msg: "transaction coordinator broker " + strconv.Itoa(int(leader)) + " is not available"}
}

// StartTransactions starts the server's transaction coordinator, writing
// markers with the server's MarkerWriter, and has the group coordinator
// follow the markers written to __consumer_offsets. Until it is called,
// transactional requests get COORDINATOR_NOT_AVAILABLE. In a cluster, the
// replica manager's leadership hook must call the result's Leadership.
func (s *Server) StartTransactions() (*Transactions, error) {
	return s.startTransactions(s.MarkerWriter())
}

func (s *Server) startTransactions(markers txn.MarkerWriter) (*Transactions, error) {
	if g := s.b.Groups(); g != nil {
		s.RegisterMarkerObserver(g.TxnMarker)
	}
	t, err := NewTransactions(s.b, markers, s.logger)
	if err != nil {
		return nil, err
	}
	s.txn.Store(t)
	return t, nil
}

// txns is the connection's transaction coordinator, nil when the server
// has none (transactions off).
func (c *conn) txns() *Transactions { return c.s.txn.Load() }

// fencedCode is Kafka's answer for a fenced producer: PRODUCER_FENCED
// from the versions that know it (KIP-588), INVALID_PRODUCER_EPOCH before.
func fencedCode(err error, version, fencedFrom int16) int16 {
	code := txn.ErrorCode(err)
	if code == kerr.ProducerFenced.Code && version < fencedFrom {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// asyncReply answers once fn has filled resp, without holding up the
// connection's next requests meanwhile (the coordinator waits for its
// state to replicate).
func (c *conn) asyncReply(h *header, resp kmsg.Response, fn func()) *reply {
	r := &reply{corr: h.correlationID, resp: resp, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		fn()
	}()
	return r
}

// noTxnMessage explains COORDINATOR_NOT_AVAILABLE without a coordinator.
const noTxnMessage = "transactions are not enabled on this broker"
