package main

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// serveKfakeFlag is the hidden flag that turns this binary into the kfake
// baseline broker. Running the baseline in its own process gives it its own
// CPU and RSS accounting and keeps its garbage collector away from the
// benchmark client's, exactly like the Sluice child.
const serveKfakeFlag = "serve-kfake"

// serveKfake runs a one-broker in-memory kfake cluster on addr (which must be
// 127.0.0.1:PORT, the only host kfake listens on) until SIGTERM or SIGINT.
func serveKfake(addr string) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("kfake address %q: %w", addr, err)
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("kfake address %q: kfake only listens on 127.0.0.1", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("kfake address %q: bad port", addr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("sluice-bench-kfake"),
	)
	if err != nil {
		return fmt.Errorf("start kfake on %s: %w", addr, err)
	}
	defer cluster.Close()
	<-ctx.Done()
	return nil
}
