package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/needs"
)

// pythonRoundTrip is what testdata/kafka_python_roundtrip.py prints.
type pythonRoundTrip struct {
	APIVersion []int `json:"api_version"`
	Produced   []struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
	} `json:"produced"`
	Consumed []struct {
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Key       string `json:"key"`
		Value     string `json:"value"`
	} `json:"consumed"`
}

// TestKafkaPython: Debian's kafka-python (auto-detecting the protocol
// version) produces with acks=all and consumes without a group.
func TestKafkaPython(t *testing.T) {
	t.Parallel()
	const (
		topic       = "kafka-python"
		numMessages = 200
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, 1, nil)

	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, needs.Python(t), "testdata/kafka_python_roundtrip.py",
		b.Addr(), topic, strconv.Itoa(numMessages))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-python round trip: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var got pythonRoundTrip
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("decode script output: %v\n%s", err, stdout.String())
	}
	t.Logf("kafka-python detected api_version %v", got.APIVersion)

	if len(got.Produced) != numMessages {
		t.Fatalf("produced %d acks, want %d", len(got.Produced), numMessages)
	}
	for i, p := range got.Produced {
		if p.Partition != 0 || p.Offset != int64(i) {
			t.Fatalf("message %d acked at %d[%d], want 0[%d]", i, p.Partition, p.Offset, i)
		}
	}
	if len(got.Consumed) != numMessages {
		t.Fatalf("consumed %d messages, want %d", len(got.Consumed), numMessages)
	}
	for i, c := range got.Consumed {
		wantKey, wantValue := fmt.Sprintf("key-%03d", i), fmt.Sprintf("value-%03d", i)
		if c.Partition != 0 || c.Offset != int64(i) || c.Key != wantKey || c.Value != wantValue {
			t.Fatalf("consumed message %d: %d[%d] %s=%s, want 0[%d] %s=%s", i, c.Partition, c.Offset, c.Key, c.Value, i, wantKey, wantValue)
		}
	}
	if end := endOffsets(ctx, t, newAdmin(t, b), topic)[0]; end != numMessages {
		t.Fatalf("end offset %d, want %d", end, numMessages)
	}
}
