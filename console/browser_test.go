package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/internal/cdp"
	"github.com/sluicemq/sluice/internal/needs"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// TestConsoleBrowser drives the console in a headless Chromium against a
// node whose Kafka port uses SASL (so the admin guard checks HTTP Basic
// against the SCRAM users): log in, see the broker, create a topic, browse
// messages at an offset, tail live, see a group's lag, deploy and remove a
// plugin. Screenshots of each step go to t.ArtifactDir() (kept with
// go test -artifacts).
func TestConsoleBrowser(t *testing.T) {
	chromium := needs.Chromium(t)
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "partitioner.wasm")
	if err := wasmtest.WAT(filepath.Join("..", "examples", "plugins", "wat-partitioner", "partitioner.wat"), wasmPath); err != nil {
		t.Fatal(err)
	}
	const password = "console-test-password"
	pwFile := filepath.Join(dir, "admin.pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := testkit.StartNode(t, testkit.WithOptions(node.Options{Security: node.Security{
		Protocol: node.ProtocolSASLPlaintext, BootstrapUser: "admin", BootstrapPasswordFile: pwFile}}))
	sasl := kgo.SASL(scram.Auth{User: "admin", Pass: password}.AsSha512Mechanism())

	br, err := cdp.Launch(chromium, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	page, err := br.NewPage(ctx, "about:blank")
	if err != nil {
		t.Fatal(err)
	}
	if err := page.SetViewport(ctx, 1366, 900); err != nil {
		t.Fatal(err)
	}
	if err := page.Navigate(ctx, n.HTTPBase+"/console/"); err != nil {
		t.Fatal(err)
	}
	shots := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", shots)
	step := 0
	shot := func(name string) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		defer scancel()
		png, err := page.Screenshot(sctx)
		if err != nil {
			t.Fatal(err)
		}
		step++
		if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", step, name)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(expr string) {
		t.Helper()
		if err := page.WaitTrue(ctx, expr); err != nil {
			var body string
			page.Eval(ctx, "document.querySelector('main').innerText", &body)
			shot("failed")
			t.Fatalf("%v\npage text:\n%s", err, body)
		}
	}
	eval := func(expr string, out any) {
		t.Helper()
		if err := page.Eval(ctx, expr, out); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		eval(fmt.Sprintf("(document.querySelector(%q) || {}).innerText || ''", sel), &s)
		return s
	}
	set := func(sel, value string) {
		t.Helper()
		eval(fmt.Sprintf("(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event('input')); })()", sel, value), nil)
	}
	click := func(sel string) {
		t.Helper()
		wait(fmt.Sprintf("document.querySelector(%q)", sel))
		eval(fmt.Sprintf("document.querySelector(%q).click()", sel), nil)
	}
	confirm := func() {
		t.Helper()
		wait("document.querySelector('#confirm').open")
		click("#confirm-ok")
	}
	mainHas := func(s string) {
		t.Helper()
		b, _ := json.Marshal(s)
		wait("document.querySelector('main').innerText.includes(" + string(b) + ")")
	}

	// Log in: a wrong password is refused with the guard's message.
	wait("document.querySelector('#login-form')")
	shot("login")
	set("#login-user", "admin")
	set("#login-password", "wrong")
	click("#login-submit")
	mainHas("Login failed: invalid user name or password")
	set("#login-password", password)
	click("#login-submit")

	// Overview: this broker, up and controller, at its advertised address.
	mainHas("Brokers")
	mainHas(n.Addrs.Kafka)
	wait("document.querySelector('#card-bytes-in') && !document.querySelector('#card-bytes-in').innerText.includes('…')")
	if s := text("main table"); !strings.Contains(s, "up") || !strings.Contains(s, "controller") || !strings.Contains(s, "(this one)") {
		t.Fatalf("broker table: %q", s)
	}
	if s := text("#who"); s != "User:admin" {
		t.Fatalf("who: %q", s)
	}
	shot("overview")

	// Create a topic through the form and its confirmation.
	eval("location.hash = '#/topics'", nil)
	wait("document.querySelector('#create-topic')")
	set("#new-topic-name", "payments")
	set("#new-topic-partitions", "2")
	click("#create-topic button[type=submit]")
	confirm()
	wait(`[...document.querySelectorAll('a.topic-link')].some(a => a.innerText === 'payments')`)
	shot("topics")
	// The same name again: the broker's refusal is shown, by name.
	set("#new-topic-name", "payments")
	click("#create-topic button[type=submit]")
	confirm()
	mainHas("create topic payments: TOPIC_ALREADY_EXISTS")

	// Five records on partition 0, then browse from offset 3.
	cl := n.Client(t, sasl, kgo.DefaultProduceTopic("payments"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	for i := range 5 {
		rec := &kgo.Record{Partition: 0, Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, `{"n":%d,"msg":"hello-%d"}`, i, i),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte{0xff, 0x01}}}}
		if err := cl.ProduceSync(pctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eval("location.hash = '#/topics/payments'", nil)
	wait("document.querySelector('#browse-form')")
	set("#browse-mode", "offset")
	set("#browse-offset", "3")
	click("#browse-submit")
	wait("document.querySelectorAll('#browse-results article').length === 2")
	var first struct {
		Offset string `json:"offset"`
		Value  string `json:"value"`
		Key    string `json:"key"`
		Header string `json:"header"`
	}
	eval(`(() => { const a = document.querySelector('#browse-results article');
		return {offset: a.dataset.offset, value: a.querySelector('pre.value').innerText, key: a.querySelector('.key').innerText,
			header: a.querySelector('.headers li').innerText}; })()`, &first)
	if first.Offset != "3" || first.Key != "k-3" || first.Value != "{\n  \"n\": 3,\n  \"msg\": \"hello-3\"\n}" || first.Header != "trace: 0xff01" {
		t.Fatalf("first message shown: %+v", first)
	}
	shot("messages")

	// Live tail: a record produced after it starts shows up.
	click("#tail-toggle")
	wait("document.querySelector('#tail-results').innerText.includes('Waiting for new messages')")
	if err := cl.ProduceSync(pctx, &kgo.Record{Partition: 1, Value: []byte("tail-me")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wait("document.querySelector('#tail-results article') && document.querySelector('#tail-results').innerText.includes('tail-me')")
	shot("tail")
	click("#tail-toggle")

	// A group that committed offset 2 of partition 0's 5 records, and 1
	// of partition 1's 1: lag 3.
	consumer := n.Client(t, sasl, kgo.ConsumerGroup("audit"), kgo.ConsumeTopics("payments"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	testkit.Consume(t, pctx, consumer, 6)
	done := make(chan error, 1)
	consumer.CommitOffsetsSync(pctx, map[string]map[int32]kgo.EpochOffset{"payments": {0: {Epoch: -1, Offset: 2}, 1: {Epoch: -1, Offset: 1}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eval("location.hash = '#/groups'", nil)
	mainHas("audit")
	eval("location.hash = '#/groups/audit'", nil)
	wait("document.querySelector('#group-lag') && document.querySelector('#group-lag').innerText === '3'")
	if s := text(`.lag[data-partition="0"]`); s != "3" {
		t.Fatalf("lag of partition 0 shown as %q", s)
	}
	if s := text(`.lag[data-partition="1"]`); s != "0" {
		t.Fatalf("lag of partition 1 shown as %q", s)
	}
	mainHas("Stable")
	shot("group")

	// Deploy the WAT partitioner from a file, then remove it.
	eval("location.hash = '#/plugins'", nil)
	mainHas("No plugins deployed")
	set("#plugin-name", "keyhash")
	set("#plugin-hook", "partitioner")
	set("#plugin-topic", "payments")
	if err := page.SetInputFiles(ctx, "#plugin-file", wasmPath); err != nil {
		t.Fatal(err)
	}
	// A dry run over the topic's six records first (no confirmation: it
	// changes nothing).
	click("#dry-run")
	wait("document.querySelector('#dry-run-result').innerText.includes('records in')")
	if s := text("#dry-run-result p"); !strings.HasPrefix(s, "6 records in ") || !strings.Contains(s, "errors 0") {
		t.Fatalf("dry run: %q", s)
	}
	shot("plugin-dry-run")
	click("#deploy-submit")
	confirm()
	wait(`document.querySelector('[data-plugin="keyhash"]')`)
	if s := text(`[data-plugin="keyhash"] h2`); !strings.Contains(s, "keyhash v1 partitioner on payments") {
		t.Fatalf("plugin heading: %q", s)
	}
	shot("plugin-deployed")
	click(`[data-remove="keyhash"]`)
	confirm()
	mainHas("No plugins deployed")
	shot("plugin-removed")

	// Delete the topic from the list, after confirming. The confirmation
	// opens on Cancel, and Escape (the keyboard) dismisses it.
	eval("location.hash = '#/topics'", nil)
	click(`[data-delete="payments"]`)
	wait("document.querySelector('#confirm').open && document.activeElement.id === 'confirm-cancel'")
	if err := page.Press(ctx, "Escape"); err != nil {
		t.Fatal(err)
	}
	wait("!document.querySelector('#confirm').open")
	if code, body := call(t, "GET", n.HTTPBase+"/console/api/topics/payments", nil, nil, "Authorization", basic("admin", password)); code != 200 {
		t.Fatalf("the topic after a dismissed deletion: %d %s", code, body)
	}
	click(`[data-delete="payments"]`)
	confirm()
	wait(`![...document.querySelectorAll('a.topic-link')].some(a => a.innerText === 'payments')`)
	mainHas("No topics yet")
}
