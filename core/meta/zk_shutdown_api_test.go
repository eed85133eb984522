package meta

import "testing"

// TestZKControlledShutdownOnBehalf: a request the controller records for
// another broker's epoch makes that broker shutting down for every store,
// and not its next incarnation; the broker's own request replaces it.
func TestZKControlledShutdownOnBehalf(t *testing.T) {
	connect := testConnect(t)
	z1 := openTestZK(t, connect, 1, ZKOptions{})
	z2 := openTestZK(t, connect, 2, ZKOptions{})
	waitUntil(t, z1, "both brokers", func() bool { return len(z1.Brokers()) == 2 && z1.BrokerEpochs()[2] != 0 })
	epoch := z1.BrokerEpochs()[2]
	if err := z1.RequestControlledShutdownOf(2, epoch+1); err != nil {
		t.Fatal(err)
	}
	if z1.ShuttingDown()[2] {
		t.Fatal("a request for another epoch counts")
	}
	if err := z1.RequestControlledShutdownOf(2, epoch); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 2 shutting down", func() bool { return z2.ShuttingDown()[2] })
	// Its own request takes over the node.
	if err := z2.RequestControlledShutdown(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z1, "broker 2's own request", func() bool {
		z1.shut.mu.Lock()
		defer z1.shut.mu.Unlock()
		_, named := z1.shut.epochs[2]
		return !named && z1.shut.owners[2] != 0
	})
	if !z1.ShuttingDown()[2] {
		t.Fatal("broker 2's own request does not count")
	}
	z2.Close()
	waitUntil(t, z1, "broker 2 gone", func() bool { return len(z1.Brokers()) == 1 && !z1.ShuttingDown()[2] })
	if err := z1.RequestControlledShutdownOf(2, epoch); err != nil {
		t.Fatal(err)
	}
	openTestZK(t, connect, 2, ZKOptions{})
	waitUntil(t, z1, "broker 2 back", func() bool { return z1.BrokerEpochs()[2] > epoch })
	if z1.ShuttingDown()[2] {
		t.Fatal("a request for the previous incarnation counts for the next")
	}
}
