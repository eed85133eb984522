package testkit_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestStartNodeRoundTrip: the kit's node serves Kafka and the admin API;
// records produced come back in order, a module that is not wasm is
// refused with a 400.
func TestStartNodeRoundTrip(t *testing.T) {
	n := testkit.StartNode(t)
	if n.Addrs.Kafka == "" || !strings.HasPrefix(n.HTTPBase, "http://127.0.0.1:") {
		t.Fatalf("addrs %+v base %q", n.Addrs, n.HTTPBase)
	}
	n.CreateTopic(t, "kit", 1)
	cl := n.Client(t, kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kit", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range n.Consume(t, ctx, "kit", 3) {
		got = append(got, string(r.Value))
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("consumed %q", got)
	}
	if code, body := n.DeployStatus(t, "x", "transform", "kit", []byte("not wasm")); code != http.StatusBadRequest {
		t.Fatalf("deploy of junk: %d %s", code, body)
	}
}

// TestStartNodeWithoutHTTP: WithoutHTTP leaves only the Kafka port.
func TestStartNodeWithoutHTTP(t *testing.T) {
	n := testkit.StartNode(t, testkit.WithoutHTTP())
	if n.Addrs.HTTP != "" || n.HTTPBase != "" {
		t.Fatalf("HTTP listener on: %+v", n.Addrs)
	}
	n.CreateTopic(t, "only-kafka", 3)
}
