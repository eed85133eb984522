package conformance_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// TestE2ERustTransformOnProduce deploys the Rust mask-email example to a
// real broker through the admin API and produces to its topic with
// franz-go: the stored records are exactly the masked ones, keys and
// headers kept; deploying it as a partitioner is refused with a 400 that
// names the hook it registers.
func TestE2ERustTransformOnProduce(t *testing.T) {
	if !plugbuild.RustAvailable() && testing.Short() {
		t.Skip(plugbuild.ErrNoRust)
	}
	path, err := plugbuild.RustPlugin("examples/plugins-rust", "mask-email")
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	n := testkit.StartNode(t, testkit.WithSmallOffsetsTopic())
	cl := n.Client(t, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	n.CreateTopic(t, "logs", 1)

	deploy := func(hook string) (int, string) { return n.DeployStatus(t, "mask-rust", hook, "logs", code) }
	if code, body := deploy("partitioner"); code != http.StatusBadRequest ||
		!strings.Contains(body, "registers a transform, deployed as partitioner: deploy it with --hook transform") {
		t.Fatalf("deploy as partitioner: %d %s", code, body)
	}
	if code, body := deploy("transform"); code != http.StatusCreated {
		t.Fatalf("deploy: %d %s", code, body)
	}

	in := []*kgo.Record{
		{Topic: "logs", Key: []byte("k1"), Value: []byte("user jane@example.com logged in"), Headers: []kgo.RecordHeader{{Key: "app", Value: []byte("web")}}},
		{Topic: "logs", Value: []byte("plain line")},
		{Topic: "logs", Key: []byte("k3"), Value: []byte("to a@b.io, cc c.d+x@mail.example.org.")},
		{Topic: "logs", Key: []byte("k4"), Value: []byte("")},
	}
	if err := cl.ProduceSync(tctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, r := range n.Consume(t, tctx, "logs", len(in)) {
		got = append(got, fmt.Sprintf("%d key=%q value=%q headers=%v", r.Offset, r.Key, r.Value, r.Headers))
	}
	want := []string{
		`0 key="k1" value="user ***@example.com logged in" headers=[{app [119 101 98]}]`,
		`1 key="" value="plain line" headers=[]`,
		`2 key="k3" value="to ***@b.io, cc ***@mail.example.org." headers=[]`,
		`3 key="k4" value="" headers=[]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
