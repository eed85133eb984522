package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/node"
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

	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan node.Addrs, 1)
	done := make(chan error, 1)
	cfg := broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { done <- node.RunWith(ctx, cfg, node.Options{}, func(a node.Addrs) { addrs <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	var a node.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node did not start in 30s")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	resp, err := kadm.NewClient(cl).CreateTopics(tctx, 1, 1, nil, "logs")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	deploy := func(hook string) (int, string) {
		q := url.Values{"name": {"mask-rust"}, "hook": {hook}, "topic": {"logs"}}
		resp, err := http.Post("http://"+a.HTTP+"/admin/plugins?"+q.Encode(), "application/wasm", bytes.NewReader(code))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
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

	cons, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < len(in) {
		fs := cons.PollFetches(tctx)
		if tctx.Err() != nil {
			t.Fatalf("got %d of %d records: %q", len(got), len(in), got)
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			got = append(got, fmt.Sprintf("%d key=%q value=%q headers=%v", r.Offset, r.Key, r.Value, r.Headers))
		}
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
