package itest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/needs"
)

// TestKcat drives librdkafka through Debian's kcat: metadata listing,
// an idempotent snappy-compressed keyed produce, and a consume to the end of
// the partition, cross-checked with kgo.
func TestKcat(t *testing.T) {
	t.Parallel()
	const (
		metaTopic = "kcat-meta"
		ioTopic   = "kcat-io"
		numLines  = 300
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, metaTopic, 3, nil)

	wantMeta := fmt.Sprintf(`Metadata for %[2]s (from broker 0: %[1]s/0):
 1 brokers:
  broker 0 at %[1]s (controller)
 1 topics:
  topic "%[2]s" with 3 partitions:
    partition 0, leader 0, replicas: 0, isrs: 0
    partition 1, leader 0, replicas: 0, isrs: 0
    partition 2, leader 0, replicas: 0, isrs: 0
`, b.Addr(), metaTopic)
	if got, _ := runKcat(ctx, t, "", "-b", b.Addr(), "-L", "-t", metaTopic); got != wantMeta {
		t.Fatalf("kcat -L -t %s printed:\n%s\nwant:\n%s", metaTopic, got, wantMeta)
	}

	// snappy as asked of most users; zstd because librdkafka 2.0 (Debian
	// bookworm) only compresses with snappy when the broker still
	// advertises Produce v0 (it gates snappy and gzip on that), while zstd
	// needs Produce v7 and Fetch v10, which every current broker has.
	kcatRoundTrip(ctx, t, b, ioTopic, "snappy", 2, numLines)
	kcatRoundTrip(ctx, t, b, ioTopic+"-zstd", "zstd", 4, numLines)

	all, _ := runKcat(ctx, t, "", "-b", b.Addr(), "-L")
	for _, want := range []string{
		fmt.Sprintf("  broker 0 at %s (controller)\n", b.Addr()),
		fmt.Sprintf("  topic %q with 3 partitions:\n", metaTopic),
		fmt.Sprintf("  topic %q with 1 partitions:\n", ioTopic),
	} {
		if !strings.Contains(all, want) {
			t.Fatalf("kcat -L printed:\n%s\nwant a line %q", all, want)
		}
	}
}

// kcatRoundTrip produces n keyed lines to a new single-partition topic with
// an idempotent kcat using codec, consumes them with kcat to the end of the
// partition and checks what kgo reads: the lines, in order, in batches of
// the codec (or uncompressed if librdkafka said it would not compress).
func kcatRoundTrip(ctx context.Context, t *testing.T, b *broker, topic, codec string, codecID uint8, n int) {
	t.Helper()
	createTopic(ctx, t, newAdmin(t, b), topic, 1, nil)
	var input, wantOut strings.Builder
	for i := range n {
		fmt.Fprintf(&input, "key-%03d:value-%03d\n", i, i)
		fmt.Fprintf(&wantOut, "key-%03d=value-%03d\n", i, i)
	}
	_, stderr := runKcat(ctx, t, input.String(), "-P", "-b", b.Addr(), "-t", topic, "-K:", "-z", codec,
		"-X", "enable.idempotence=true", // implies acks=all
		"-X", "linger.ms=100", // one batch of every line: compression surely pays off
		"-d", "msg", // librdkafka logs here when it decides not to compress
	)
	if strings.Contains(stderr, "does not support compression type "+codec) {
		t.Logf("librdkafka declined to compress with %s for this broker's ApiVersions; expecting uncompressed batches", codec)
		codecID = 0
	}
	got, _ := runKcat(ctx, t, "", "-C", "-b", b.Addr(), "-t", topic, "-o", "beginning", "-e", "-f", `%k=%s\n`)
	if got != wantOut.String() {
		t.Fatalf("kcat -C %s printed %d lines, want %d; first difference: %s", topic, strings.Count(got, "\n"), n, firstDiff(got, wantOut.String()))
	}

	records := consumeAll(ctx, t, b, topic)[0]
	if len(records) != n {
		t.Fatalf("kgo read %d records of kcat's, want %d", len(records), n)
	}
	for i, r := range records {
		wantKey, wantValue := fmt.Sprintf("key-%03d", i), fmt.Sprintf("value-%03d", i)
		if r.Offset != int64(i) || string(r.Key) != wantKey || string(r.Value) != wantValue {
			t.Fatalf("kgo record %d: offset %d %s=%s, want offset %d %s=%s", i, r.Offset, r.Key, r.Value, i, wantKey, wantValue)
		}
		if got := r.Attrs.CompressionType(); got != codecID {
			t.Fatalf("kgo record %d: stored with codec %d, want %d (%s)", i, got, codecID, codec)
		}
		if r.ProducerID < 0 {
			t.Fatalf("kgo record %d: producer id %d, want the idempotent producer's", i, r.ProducerID)
		}
	}
}

// runKcat runs kcat with stdin and returns its stdout and stderr, failing
// the test if it exits non-zero.
func runKcat(ctx context.Context, t testing.TB, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needs.Kcat(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, outBuf.String(), errBuf.String())
	}
	return outBuf.String(), errBuf.String()
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, gl, wl)
		}
	}
	return "(identical)"
}
