package meta

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// Controlled shutdown requested on a broker's behalf: Kafka's
// ControlledShutdown API reaches the controller, not the stopping broker's
// own ZooKeeper session, so the controller writes the request node
// (/admin/controlled_shutdown/<id>, persistent) with the broker epoch it is
// for, {"version":1,"broker_epoch":N}. It counts while that incarnation
// is registered and never for a later one; the broker's own request
// (RequestControlledShutdown) replaces it.

// ShutdownRequester records controlled shutdown requests for other
// brokers (the ControlledShutdown API on the controller).
type ShutdownRequester interface {
	// RequestControlledShutdownOf asks for broker id's controlled
	// shutdown, for its incarnation with epoch (BrokerEpochs).
	RequestControlledShutdownOf(id int32, epoch int64) error
}

var _ ShutdownRequester = (*ZK)(nil)

type zkShutdownRequest struct {
	Version     int   `json:"version"`
	BrokerEpoch int64 `json:"broker_epoch"`
}

func decodeShutdownEpoch(data []byte) (int64, bool) {
	if len(data) == 0 {
		return 0, false
	}
	var r zkShutdownRequest
	if err := json.Unmarshal(data, &r); err != nil || r.BrokerEpoch <= 0 {
		return 0, false
	}
	return r.BrokerEpoch, true
}

// RequestControlledShutdownOf implements ShutdownRequester.
func (z *ZK) RequestControlledShutdownOf(id int32, epoch int64) error {
	if err := z.startShutdownWatch(); err != nil {
		return err
	}
	path := z.abs(zkControlledShutdownNode(id))
	data := mustJSON(zkShutdownRequest{Version: 1, BrokerEpoch: epoch})
	// The broker's own live request already counts; leave it alone.
	if _, stat, err := z.conn.Exists(path); err == nil && stat != nil && stat.EphemeralOwner != 0 {
		z.mu.RLock()
		own := z.brokerSess[id] == stat.EphemeralOwner
		z.mu.RUnlock()
		if own {
			return nil
		}
	}
	_, err := z.conn.Set(path, data, -1)
	if errors.Is(err, zk.ErrNoNode) {
		if _, err = z.create(path, data, 0); errors.Is(err, zk.ErrNodeExists) {
			_, err = z.conn.Set(path, data, -1)
		}
	}
	if err != nil {
		return fmt.Errorf("meta: request controlled shutdown of broker %d: %w", id, err)
	}
	z.awaitCache("controlled shutdown request", func() bool { return z.shuttingDownLocked()[id] })
	return nil
}
