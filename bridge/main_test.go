package bridge_test

import (
	"flag"
	"os"
	"testing"

	"github.com/sluicemq/sluice/internal/testkit"
)

func TestMain(m *testing.M) {
	flag.Parse()
	testkit.ShortParallel()
	os.Exit(m.Run())
}
