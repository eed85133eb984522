// Package node assembles a Sluice broker process: the broker core and the
// Kafka protocol listener (later also the HTTP bridge). It is the
// composition root that cmd/sluice calls.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/kafka"
)

// Run opens the broker on cfg.DataDir (recovering after an unclean
// shutdown), serves the Kafka protocol on cfg.KafkaAddr until ctx is done,
// then shuts down cleanly (flush, close segments, clean-shutdown marker).
// ready, if non-nil, is called with the bound Kafka address once serving.
func Run(ctx context.Context, cfg broker.Config, ready func(kafkaAddr string)) error {
	cfg = cfg.Defaults()
	logger := cfg.Logger
	b, err := broker.Open(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.KafkaAddr)
	if err != nil {
		b.Close()
		return fmt.Errorf("kafka listener: %w", err)
	}
	host, port, err := advertised(cfg.AdvertisedAddr, ln.Addr().(*net.TCPAddr))
	if err != nil {
		ln.Close()
		b.Close()
		return err
	}
	b.SetAdvertised(host, port)
	srv := kafka.New(b, kafka.Config{MaxRequestBytes: cfg.MaxRequestBytes, Logger: logger})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("kafka listener ready", "addr", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))), "broker_id", cfg.BrokerID)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	logger.Info("shutting down")
	srv.Close()
	if cerr := b.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// advertised picks the endpoint given to clients: the configured one, or
// the bound address (127.0.0.1 when bound to all interfaces).
func advertised(cfgAddr string, bound *net.TCPAddr) (string, int32, error) {
	if cfgAddr != "" {
		host, portStr, err := net.SplitHostPort(cfgAddr)
		if err != nil {
			return "", 0, fmt.Errorf("advertised address %q: %w", cfgAddr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port <= 0 || port > 65535 {
			return "", 0, fmt.Errorf("advertised address %q: bad port", cfgAddr)
		}
		return host, int32(port), nil
	}
	host := bound.IP.String()
	if bound.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return host, int32(bound.Port), nil
}
