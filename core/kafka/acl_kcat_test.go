package kafka

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/needs"
)

func kcat(ctx context.Context, t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, needs.Kcat(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// TestACLWithKcat: librdkafka (kcat) as User:ANONYMOUS from 127.0.0.1
// sees only the topic it is granted, produces to it idempotently (Write
// on a topic stands in for IdempotentWrite), and is refused another with
// Kafka's error.
func TestACLWithKcat(t *testing.T) {
	e := startACLBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"kc-ok", "kc-secret"} {
		if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	e.setACLs(t,
		allowACL(auth.Anonymous, auth.ResTopic, "kc-ok", lit, auth.OpWrite, "127.0.0.1"),
		allowACL(auth.Anonymous, auth.ResTopic, "kc-ok", lit, auth.OpRead, "127.0.0.1"),
	)
	out, stderr, err := kcat(ctx, t, "", "-b", e.addr, "-L")
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `topic "kc-ok"`) || strings.Contains(out, "kc-secret") || strings.Contains(out, "__consumer_offsets") {
		t.Fatalf("kcat -L shows:\n%s", out)
	}
	_, stderr, err = kcat(ctx, t, "a\nb\nc\n", "-P", "-b", e.addr, "-t", "kc-ok", "-X", "enable.idempotence=true")
	if err != nil {
		t.Fatalf("kcat produce to kc-ok: %v\n%s", err, stderr)
	}
	out, stderr, err = kcat(ctx, t, "", "-C", "-b", e.addr, "-t", "kc-ok", "-o", "beginning", "-e")
	if err != nil || out != "a\nb\nc\n" {
		t.Fatalf("kcat consume kc-ok: %q %v\n%s", out, err, stderr)
	}
	_, stderr, err = kcat(ctx, t, "x\n", "-P", "-b", e.addr, "-t", "kc-secret", "-X", "message.timeout.ms=5000")
	if err == nil || !strings.Contains(strings.ToLower(stderr), "topic authorization failed") {
		t.Fatalf("kcat produce to kc-secret: err %v\n%s", err, stderr)
	}
	end, err := e.admin.ListEndOffsets(ctx, "kc-secret")
	if err != nil || end["kc-secret"][0].Offset != 0 {
		t.Fatalf("kc-secret end offset %v %v", end, err)
	}
}
