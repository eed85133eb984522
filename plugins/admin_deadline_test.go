package plugins_test

import (
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// The admin API on the HTTP listener it shares with the bridge answers a
// deploy that outlasts the bridge's WriteTimeout (a compile on a loaded
// machine took over its 60 s): the client used to see the connection
// closed with no answer (EOF). A 1 ms WriteTimeout stands in for the slow
// compile.
func TestDeployOutlastsBridgeWriteTimeout(t *testing.T) {
	t.Parallel()
	n := wrapNode(testkit.StartNode(t, testkit.WithLogger(quietLogger),
		testkit.WithOptions(node.Options{Bridge: bridge.Config{WriteTimeout: bridge.Duration(time.Millisecond)}})))
	n.createTopic(t, "logs", 1)
	n.deploy(t, "mask", "transform", "logs", "mask-pii")
}
