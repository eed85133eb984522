package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControlledShutdownAPI: Kafka's ControlledShutdown request (raw kmsg
// through kgo) is NOT_CONTROLLER on a non-controller and
// STALE_BROKER_EPOCH with an old epoch; on the controller it moves
// leadership off the named broker and answers with no partitions
// remaining, and the metadata shows every partition led elsewhere.
func TestControlledShutdownAPI(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "cshut"
	createTopic(ctx, t, adm, topic, 3, 3, nil)
	ids := []int32{1, 2, 3}
	waitFor(ctx, t, "every broker in every ISR", func() bool { return inEveryISR(ctx, t, adm, topic, ids) })
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := md.Controller
	// The stopping broker: one that is not the controller and leads
	// something (three partitions of three replicas: each leads one).
	var target int32 = -1
	led := func(id int32) []int32 {
		var ps []int32
		for p := range int32(3) {
			if partitionInfo(ctx, t, adm, topic, p).Leader == id {
				ps = append(ps, p)
			}
		}
		return ps
	}
	for _, id := range ids {
		if id != ctrl && len(led(id)) > 0 {
			target = id
			break
		}
	}
	if target < 0 {
		t.Fatalf("no non-controller broker leads a partition (controller %d)", ctrl)
	}
	var other int32
	for _, id := range ids {
		if id != ctrl && id != target {
			other = id
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	send := func(to int32, epoch int64) *kmsg.ControlledShutdownResponse {
		t.Helper()
		req := kmsg.NewPtrControlledShutdownRequest()
		req.BrokerID, req.BrokerEpoch = target, epoch
		resp, err := cl.Broker(int(to)).Request(ctx, req)
		if err != nil {
			t.Fatalf("ControlledShutdown to broker %d: %v", to, err)
		}
		return resp.(*kmsg.ControlledShutdownResponse)
	}
	if r := send(other, -1); r.ErrorCode != kerr.NotController.Code {
		t.Fatalf("to non-controller %d: error %d, want NOT_CONTROLLER", other, r.ErrorCode)
	}
	// Epochs are registration zxids: 1 is older than any.
	if r := send(ctrl, 1); r.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("with a stale epoch: error %d, want STALE_BROKER_EPOCH", r.ErrorCode)
	}
	if got := led(target); len(got) == 0 {
		t.Fatal("a refused request moved leadership")
	}
	r := send(ctrl, -1)
	if r.ErrorCode != 0 || len(r.PartitionsRemaining) != 0 {
		t.Fatalf("controlled shutdown of %d: error %d, remaining %+v", target, r.ErrorCode, r.PartitionsRemaining)
	}
	// The brokers' metadata follows the controller's moves within moments.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	waitFor(wctx, t, fmt.Sprintf("every partition led by a broker other than %d", target), func() bool {
		for p := range int32(3) {
			if pi := partitionInfo(ctx, t, adm, topic, p); pi.Leader == target || !slices.Contains(ids, pi.Leader) {
				return false
			}
		}
		return true
	})
	// Asking again is answered the same (nothing left to move).
	if r := send(ctrl, -1); r.ErrorCode != 0 || len(r.PartitionsRemaining) != 0 {
		t.Fatalf("second request: error %d, remaining %+v", r.ErrorCode, r.PartitionsRemaining)
	}
}
