package node

import (
	"context"
	"log/slog"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/console"
	"github.com/sluicemq/sluice/core/broker"
)

// startConsole starts the web console (package console) on the node's
// in-process Kafka connection; mountAdmin mounts it next to the admin API,
// behind the same guard.
func startConsole(b *broker.Broker, kafkaAddr string, dial func(ctx context.Context, network, host string) (net.Conn, error),
	saslOpts []kgo.Opt, logger *slog.Logger, closers *closerStack) (*console.Console, error) {
	c, err := console.New(console.Config{
		Kafka:     append([]kgo.Opt{kgo.SeedBrokers(kafkaAddr), kgo.Dialer(dial)}, saslOpts...),
		Logs:      brokerLogs{b},
		AdminBase: "/admin",
		BrokerID:  b.ID(),
		Logger:    logger,
		BytesOut:  brokerBytesOut(b),
	})
	if err != nil {
		return nil, err
	}
	closers.push(c.Close)
	return c, nil
}

// brokerLogs lists this broker's replicas for the console (sizes on disk
// and log growth).
type brokerLogs struct{ b *broker.Broker }

func (l brokerLogs) Replicas() []console.Replica {
	var out []console.Replica
	id := l.b.ID()
	for _, t := range l.b.Topics() {
		for i, ps := range t.Partitions {
			if !slices.Contains(ps.Replicas, id) {
				continue
			}
			p, err := l.b.Partition(t.Name, int32(i))
			if err != nil {
				continue // not open here yet, or offline
			}
			st := p.Stats()
			out = append(out, console.Replica{Topic: t.Name, Partition: int32(i), Leader: ps.Leader == id, Broker: id,
				Size: st.Size, Segments: st.Segments, LogStart: st.LogStartOffset, LogEnd: st.NextOffset})
		}
	}
	return out
}

// brokerBytesOut sums the record bytes this broker sent to consumers
// (followers excluded), the counter /metrics exports per topic: the
// broker's per partition counters, which outlive partition objects.
func brokerBytesOut(b *broker.Broker) func() (float64, bool) {
	return func() (float64, bool) {
		var sum int64
		for _, tr := range b.Traffic() {
			sum += tr.BytesOut
		}
		return float64(sum), true
	}
}
