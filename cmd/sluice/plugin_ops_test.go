package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// TestPluginTestShadowPromoteRollbackCLI: `sluice plugin test` over a
// known topic, then deploy, deploy --shadow, list, promote and rollback.
func TestPluginTestShadowPromoteRollbackCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go plugin and runs a broker")
	}
	dir := t.TempDir()
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mask, wat := filepath.Join(dir, "mask.wasm"), filepath.Join(dir, "wat.wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", "mask-pii"), mask); err != nil {
		t.Fatal(err)
	}
	if err := wasmtest.WAT(filepath.Join(root, "wasm", "testdata", "misbehave.wat"), wat); err != nil {
		t.Fatal(err)
	}

	n := testkit.StartNode(t)
	base := "--http=" + n.HTTPBase

	cl := n.Client(t, kgo.ProducerLinger(0))
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	n.CreateTopic(t, "clilogs", 1)
	for _, v := range []string{"hello", "mail bob@example.org", "card 4111 1111 1111 1234", "bye"} {
		if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "clilogs", Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	out := mustSluice(t, "plugin", "test", base, "--hook", "transform", "--topic", "clilogs", "--show", "2", mask)
	for _, want := range []string{
		`Dry run of a transform over topic "clilogs" (1 partitions) from earliest: 4 records in 1 calls`,
		"kept 2, changed 2, dropped 0, added 0, emitted 0\n",
		"errors 0\n",
		"[0@0] kept\n  before: key=\"k\" value=\"hello\"\n",
		"[0@1] changed\n  before: key=\"k\" value=\"mail bob@example.org\"\n  after:  key=\"k\" value=\"mail ***@example.org\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("plugin test output lacks %q:\n%s", want, out)
		}
	}
	if r := runSluice("plugin", "test", base, "--hook", "transform", "--topic", "nope", mask); r.code == exitOK || !strings.Contains(r.stderr, "HTTP 404") {
		t.Fatalf("dry run of a missing topic: exit %d %s", r.code, r.stderr)
	}

	mustSluice(t, "plugin", "deploy", base, "--name", "m", "--hook", "transform", "--topic", "clilogs", mask)
	out = mustSluice(t, "plugin", "deploy", base, "--shadow", "--name", "m", "--hook", "transform", "--topic", "clilogs", wat)
	if !strings.Contains(out, `version 2 as a shadow of the transform of topic "clilogs"`) {
		t.Fatalf("shadow deploy: %s", out)
	}
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "clilogs", Key: []byte("k"), Value: []byte("to jo@ex.io")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// NAME VERSION HOOK TOPIC CALLS RECORDS ERRORS NS/REC PREV SHADOW SH-CALLS SH-DIVERGED SH-ERRORS SH-SLOWER ...
	out = mustSluice(t, "plugin", "list", base)
	if !regexp.MustCompile(`(?m)^m +1 +transform +clilogs +1 +1 +0 +\d+ +- +2 +1 +1/1 \(1 rec\) +0 +[01] +\d+ +- +\S+$`).MatchString(out) {
		t.Fatalf("plugin list:\n%s", out)
	}
	out = mustSluice(t, "plugin", "promote", base, "m")
	if !strings.Contains(out, `Promoted plugin "m" version 2`) {
		t.Fatalf("promote: %s", out)
	}
	maskSHA, watSHA := fileSHA(t, mask), fileSHA(t, wat)
	out = mustSluice(t, "plugin", "rollback", base, "m")
	if !strings.Contains(out, `Rolled back plugin "m": version 3 (the module of version 1, sha256 `+maskSHA+`) replaced version 2.`) {
		t.Fatalf("rollback: %s", out)
	}
	out = mustSluice(t, "plugin", "list", base)
	if !regexp.MustCompile(`(?m)^m +3 +transform +clilogs +0 +0 +0 +0 +- +- `).MatchString(out) {
		t.Fatalf("plugin list after rollback:\n%s", out)
	}

	// Versions kept, newest first; a rollback to a named one.
	versions := func(rows ...string) {
		t.Helper()
		out := mustSluice(t, "plugin", "versions", base, "m")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(rows)+1 || !regexp.MustCompile(`^VERSION +STATE +HOOK +TOPIC +SHA256 +SIZE +DEPLOYED +RESTORES +ROLLBACK-OF$`).MatchString(lines[0]) {
			t.Fatalf("plugin versions:\n%s", out)
		}
		for i, row := range rows {
			if !regexp.MustCompile(row).MatchString(lines[i+1]) {
				t.Fatalf("plugin versions line %d %q does not match %q:\n%s", i+1, lines[i+1], row, out)
			}
		}
	}
	versions(
		`^3 +live +transform +clilogs +`+maskSHA+` +\d+ +\S+ +1 +2$`,
		`^2 +- +transform +clilogs +`+watSHA+` +\d+ +\S+ +- +-$`,
		`^1 +- +transform +clilogs +`+maskSHA+` +\d+ +\S+ +- +-$`,
	)
	out = mustSluice(t, "plugin", "rollback", base, "--to", "2", "m")
	if !strings.Contains(out, `Rolled back plugin "m": version 4 (the module of version 2, sha256 `+watSHA+`) replaced version 3.`) {
		t.Fatalf("rollback --to 2: %s", out)
	}
	versions(
		`^4 +live +transform +clilogs +`+watSHA+` +\d+ +\S+ +2 +3$`,
		`^3 +- +transform +clilogs +`+maskSHA+` +\d+ +\S+ +1 +2$`,
		`^2 +- +transform +clilogs +`+watSHA+` +\d+ +\S+ +- +-$`,
		`^1 +previous +transform +clilogs +`+maskSHA+` +\d+ +\S+ +- +-$`,
	)
	if r := runSluice("plugin", "rollback", base, "--to", "9", "m"); r.code == exitOK || !strings.Contains(r.stderr, `version 9 of "m" is not kept`) || !strings.Contains(r.stderr, "(HTTP 404)") {
		t.Fatalf("rollback to a version not kept: exit %d %s", r.code, r.stderr)
	}

	// A deploy to a missing topic is refused with the fix.
	r := runSluice("plugin", "deploy", base, "--name", "x", "--hook", "transform", "--topic", "nosuch", mask)
	if want := `deploy x: plugins: invalid deploy request: unknown topic "nosuch": create it first: sluice topic create nosuch (HTTP 400)`; r.code == exitOK || !strings.Contains(r.stderr, want) {
		t.Fatalf("deploy to a missing topic: exit %d %q, want %q", r.code, r.stderr, want)
	}
}

// fileSHA is the first 12 hex digits of a file's sha256 (as the CLI
// prints them).
func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}
