// Package localbroker opens a single-node broker core over a local
// metadata store in its data directory: what node.RunWith does in its
// single-node mode, without the listeners, plugins or HTTP.
//
// Why its own package: package broker receives its store and never opens
// one (the run mode is decided in package node alone), yet the tests of
// core/kafka, core/pipeline and bridge want a bare broker core. Those
// tests live inside packages that node imports, so they cannot import
// internal/testkit (which imports node); this leaf package imports only
// core/broker and core/meta and so fits under all of them.
package localbroker

import (
	"errors"
	"fmt"
	"os"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/meta"
)

// Open opens meta.Local in cfg.DataDir (created if missing) and a broker
// over it, as broker id cfg.BrokerID advertised on 127.0.0.1:9092 until
// the caller calls SetAdvertised. The broker owns the store: its Close
// closes both.
func Open(cfg broker.Config) (*broker.Broker, error) {
	cfg = cfg.Defaults()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("localbroker: data dir: %w", err)
	}
	local, err := meta.OpenLocal(cfg.DataDir, meta.Broker{ID: cfg.BrokerID, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		return nil, err
	}
	b, err := broker.New(cfg, local, nil)
	if err != nil {
		return nil, errors.Join(err, local.Close())
	}
	return b, nil
}
