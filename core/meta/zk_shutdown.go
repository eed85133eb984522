package meta

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/go-zookeeper/zk"
)

// Controlled shutdown and broker incarnations over ZooKeeper.
//
// A broker that is about to stop creates the ephemeral
// /admin/controlled_shutdown/<id>; the controller watches the children,
// moves leadership off that broker and takes it out of every ISR, and the
// broker waits until its partitions show that before it closes. The node
// belongs to the stopping broker's session, so it goes away with the
// broker; a request counts only while its owner is the session that holds
// the broker's registration, so a leftover from a crashed incarnation
// never applies to the next one.

const zkControlledShutdownPath = "/admin/controlled_shutdown"

func zkControlledShutdownNode(id int32) string {
	return zkControlledShutdownPath + "/" + strconv.Itoa(int(id))
}

// zkShutdowns caches the controlled shutdown requests. The watch starts on
// first use, so brokers that never ask pay nothing.
type zkShutdowns struct {
	once     sync.Once
	startErr error
	mu       sync.Mutex
	owners   map[int32]int64 // request node owner session by broker id
	epochs   map[int32]int64 // broker epoch a request names (zk_shutdown_api.go), by broker id
}

// ShutdownStore is what controlled shutdown needs from a clustered store.
// The embedded single-node store does not implement it: there is nobody
// to hand leadership to, so a controlled shutdown there is a no-op.
type ShutdownStore interface {
	// RequestControlledShutdown asks the controller to move leadership
	// off this broker and out of every ISR; the request lasts as long as
	// the broker's session.
	RequestControlledShutdown() error
	// ShuttingDown is the set of live brokers that asked for a controlled
	// shutdown.
	ShuttingDown() map[int32]bool
}

var _ ShutdownStore = (*ZK)(nil)

// RequestControlledShutdown implements ShutdownStore.
func (z *ZK) RequestControlledShutdown() error {
	if err := z.startShutdownWatch(); err != nil {
		return err
	}
	id := z.Self().ID
	path := z.abs(zkControlledShutdownNode(id))
	_, err := z.create(path, nil, zk.FlagEphemeral)
	if errors.Is(err, zk.ErrNodeExists) {
		// A leftover of an earlier session: replace it with ours.
		if _, stat, xerr := z.conn.Exists(path); xerr == nil && stat != nil && stat.EphemeralOwner != z.conn.SessionID() {
			_ = z.conn.Delete(path, -1)
			_, err = z.create(path, nil, zk.FlagEphemeral)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("meta: request controlled shutdown of broker %d: %w", id, err)
	}
	z.awaitCache("controlled shutdown request", func() bool { return z.shuttingDownLocked()[id] })
	return nil
}

// ShuttingDown implements ShutdownStore.
func (z *ZK) ShuttingDown() map[int32]bool {
	if err := z.startShutdownWatch(); err != nil {
		z.log.Warn("watching controlled shutdown requests failed", "err", err)
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.shuttingDownLocked()
}

// shuttingDownLocked is ShuttingDown with z.mu held (read or write).
func (z *ZK) shuttingDownLocked() map[int32]bool {
	z.shut.mu.Lock()
	defer z.shut.mu.Unlock()
	out := map[int32]bool{}
	for id, owner := range z.shut.owners {
		if sess, ok := z.brokerSess[id]; ok && sess == owner {
			out[id] = true
		}
	}
	// Requests made for a broker through the ControlledShutdown API name
	// its epoch instead: they count for that incarnation only.
	for id, epoch := range z.shut.epochs {
		if e, ok := z.brokerEpoch[id]; ok && e == epoch {
			out[id] = true
		}
	}
	return out
}

func (z *ZK) startShutdownWatch() error {
	z.shut.once.Do(func() {
		if err := z.createIfAbsent(z.abs(zkControlledShutdownPath), nil); err != nil {
			z.shut.startErr = err
			return
		}
		w, err := z.refreshShutdowns(nil)
		if err != nil {
			z.shut.startErr = err
			return
		}
		z.spawnWatch("controlled shutdowns", w, nil, nil, z.refreshShutdowns)
	})
	return z.shut.startErr
}

// refreshShutdowns re-reads the requests (see refreshFunc).
func (z *ZK) refreshShutdowns(pending <-chan zk.Event) (<-chan zk.Event, error) {
	path := z.abs(zkControlledShutdownPath)
	var ids []string
	var err error
	wch := pending
	if pending == nil {
		ids, _, wch, err = z.conn.ChildrenW(path)
	} else {
		ids, _, err = z.conn.Children(path)
	}
	if err != nil {
		return wch, fmt.Errorf("meta: list %s: %w", path, err)
	}
	owners := make(map[int32]int64, min(len(ids), 1<<16))
	epochs := map[int32]int64{}
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			continue
		}
		data, stat, err := z.conn.Get(z.abs(zkControlledShutdownNode(int32(id))))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return wch, fmt.Errorf("meta: read controlled shutdown of %d: %w", id, err)
		}
		owners[int32(id)] = stat.EphemeralOwner
		if epoch, ok := decodeShutdownEpoch(data); ok {
			epochs[int32(id)] = epoch
		}
	}
	z.mu.Lock()
	z.shut.mu.Lock()
	changed := !maps.Equal(z.shut.owners, owners) || !maps.Equal(z.shut.epochs, epochs)
	z.shut.owners, z.shut.epochs = owners, epochs
	z.shut.mu.Unlock()
	if changed {
		z.changedLocked()
	}
	z.mu.Unlock()
	return wch, nil
}
