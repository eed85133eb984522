package console_test

import (
	"os"
	"testing"

	"github.com/sluicemq/sluice/internal/testkit"
)

func TestMain(m *testing.M) {
	// No test here is about the size of __consumer_offsets: four
	// partitions instead of 50 spare each node start its files and fsyncs.
	testkit.SetNodeDefaults(testkit.WithSmallOffsetsTopic())
	os.Exit(m.Run())
}
