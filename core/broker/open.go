package broker

import (
	"errors"
	"fmt"
	"os"

	"github.com/sluicemq/sluice/core/meta"
)

// Open opens a single-node broker on cfg.DataDir over its own local
// metadata store (meta.OpenLocal in the same directory): New with a fresh
// meta.Local. It is for tests and tools that want a broker core without a
// node; a node opens its store itself (local or ZooKeeper) and calls New,
// so the run mode is decided there and only there.
func Open(cfg Config) (*Broker, error) { return OpenWith(cfg, nil, nil) }

// OpenWith is New, except that a nil store opens the local one as Open
// does.
//
// Deprecated: use New (with the store) or Open; kept for callers written
// before New.
func OpenWith(cfg Config, store meta.Store, roles RoleHandler) (*Broker, error) {
	if store != nil {
		return New(cfg, store, roles)
	}
	cfg = cfg.Defaults()
	// OpenLocal writes its file into the directory.
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	local, err := meta.OpenLocal(cfg.DataDir, meta.Broker{ID: cfg.BrokerID, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		return nil, err
	}
	b, err := New(cfg, local, roles)
	if err != nil {
		return nil, errors.Join(err, local.Close())
	}
	return b, nil
}
