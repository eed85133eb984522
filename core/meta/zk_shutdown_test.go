package meta

import (
	"testing"
)

// TestZKControlledShutdownAndEpochs: a controlled shutdown request is seen
// by other brokers while its broker lives and disappears with its
// session; a broker that registers again gets a larger epoch, and a
// request left by its previous session does not apply to it.
func TestZKControlledShutdownAndEpochs(t *testing.T) {
	connect := testConnect(t)
	z1 := openTestZK(t, connect, 1, ZKOptions{})
	z2 := openTestZK(t, connect, 2, ZKOptions{})
	waitUntil(t, z2, "both brokers", func() bool { return len(z2.Brokers()) == 2 })
	if got := z2.ShuttingDown(); len(got) != 0 {
		t.Fatalf("ShuttingDown before any request = %v", got)
	}
	first := z2.BrokerEpochs()[1]
	if first == 0 {
		t.Fatalf("broker 1 has no epoch: %v", z2.BrokerEpochs())
	}

	if err := z1.RequestControlledShutdown(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 1 shutting down", func() bool { return z2.ShuttingDown()[1] })
	if got := z2.ShuttingDown(); len(got) != 1 {
		t.Fatalf("ShuttingDown = %v, want only broker 1", got)
	}
	// Asking twice is fine.
	if err := z1.RequestControlledShutdown(); err != nil {
		t.Fatalf("second request: %v", err)
	}

	z1.Close()
	waitUntil(t, z2, "broker 1 gone with its request", func() bool {
		return len(z2.Brokers()) == 1 && !z2.ShuttingDown()[1]
	})
	z1b := openTestZK(t, connect, 1, ZKOptions{})
	waitUntil(t, z2, "broker 1 registered again", func() bool { return z2.BrokerEpochs()[1] != 0 })
	if again := z2.BrokerEpochs()[1]; again <= first {
		t.Fatalf("epoch after re-registration %d, want above %d", again, first)
	}
	if z2.ShuttingDown()[1] || z1b.ShuttingDown()[1] {
		t.Fatal("the new incarnation counts as shutting down")
	}
	// The single-node store has no controlled shutdown.
	var s Store = &Local{}
	if _, ok := s.(ShutdownStore); ok {
		t.Fatal("Local implements ShutdownStore")
	}
}
