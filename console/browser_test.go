package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/console"
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
	watPath := filepath.Join("..", "examples", "plugins", "wat-partitioner", "partitioner.wat")
	if err := wasmtest.WAT(watPath, wasmPath); err != nil {
		t.Fatal(err)
	}
	// A second version for the shadow: the same partitioner with one more
	// (unused) function, so its module differs and v1 stays a rollback
	// target once v2 is promoted.
	wat, err := os.ReadFile(watPath)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(wat, ')')
	wat2 := append(append(wat[:end:end], "  (func $v2 (result i32) (i32.const 2))\n"...), wat[end:]...)
	wat2Path, wasm2Path := filepath.Join(dir, "partitioner-v2.wat"), filepath.Join(dir, "partitioner-v2.wasm")
	if err := os.WriteFile(wat2Path, wat2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := wasmtest.WAT(wat2Path, wasm2Path); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
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
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		if err := page.WaitTrue(wctx, expr); err != nil {
			var body, charts string
			page.Eval(ctx, "document.querySelector('main').innerText", &body)
			page.Eval(ctx, "[...document.querySelectorAll('svg.chart')].map(c => JSON.stringify(c.dataset)).join('\\n')", &charts)
			shot("failed")
			t.Fatalf("%v\npage text:\n%s\ncharts:\n%s", err, body, charts)
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

	// The throughput chart: a burst of 20 records to a topic of their own
	// shows in the chart's window exactly (the record bytes the broker
	// counted as received), once the chart has samples.
	admCl := n.Client(t, sasl)
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 1, 1, nil, "clicks"); err != nil {
		t.Fatal(err)
	}
	const chartSel = `document.querySelector('svg.chart[data-chart="throughput"]')`
	wait("(c => c && +c.dataset.points >= 2)(" + chartSel + ")")
	clicksBytes := func() int64 {
		t.Helper()
		code, body := call(t, "GET", n.HTTPBase+"/metrics", nil, nil, "Authorization", basic("admin", password))
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, `sluice_topic_bytes_in_total{topic="clicks"} `); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return int64(f)
			}
		}
		return 0
	}
	bytesBefore := clicksBytes()
	var burst []*kgo.Record
	for i := range 20 {
		burst = append(burst, &kgo.Record{Topic: "clicks", Value: fmt.Appendf(nil, `{"page":"/p/%d","event":"click"}`, i)})
	}
	if err := admCl.ProduceSync(ctx, burst...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	burstBytes := clicksBytes() - bytesBefore
	if burstBytes <= 0 {
		t.Fatalf("the broker counted %d bytes for the burst", burstBytes)
	}
	wait(fmt.Sprintf("(c => c && c.dataset.windowMessages === '20' && c.dataset.windowBytes === '%d')(%s)", burstBytes, chartSel))
	var chart struct {
		Points   string `json:"points"`
		Drawn    int    `json:"drawn"`
		Messages string `json:"messages"`
	}
	eval(`(c => ({points: c.dataset.points, drawn: c.querySelector('polyline.line').getAttribute('points').trim().split(/\s+/).length,
		messages: document.querySelector('#card-msgs-in').innerText}))(`+chartSel+`)`, &chart)
	if np, _ := strconv.Atoi(chart.Points); np < 2 || chart.Drawn != np || !strings.Contains(chart.Messages, "cluster (1 broker), live") {
		t.Fatalf("throughput chart: %+v", chart)
	}
	shot("throughput")
	if _, err := kadm.NewClient(admCl).DeleteTopic(ctx, "clicks"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var tl console.TopicList
		code, _ := call(t, "GET", n.HTTPBase+"/console/api/topics", nil, &tl, "Authorization", basic("admin", password))
		if code == 200 && !slices.ContainsFunc(tl.Topics, func(s console.TopicSummary) bool { return s.Name == "clicks" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic clicks still listed: %d %+v", code, tl)
		}
	}

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
	// The lag chart plots the total lag the page sampled: 3, drawn.
	const lagSel = `document.querySelector('svg.chart[data-chart="lag"]')`
	wait("(c => c && +c.dataset.points >= 2 && c.dataset.last === '3')(" + lagSel + ")")
	var lagDrawn, lagPoints int
	eval(`(c => c.querySelector('polyline.line').getAttribute('points').trim().split(/\s+/).length)(`+lagSel+`)`, &lagDrawn)
	eval(`+(`+lagSel+`).dataset.points`, &lagPoints)
	if lagDrawn != lagPoints {
		t.Fatalf("lag chart draws %d points of %d samples", lagDrawn, lagPoints)
	}
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

	// The same module again, as a shadow: the plugin stays v1 with v2
	// beside it; promoting makes v2 live, with v1 to roll back to.
	if err := page.SetInputFiles(ctx, "#plugin-file", wasm2Path); err != nil {
		t.Fatal(err)
	}
	click("#plugin-shadow")
	click("#deploy-submit")
	wait("document.querySelector('#confirm').open && document.querySelector('#confirm-text').innerText.includes('as a shadow of plugin')")
	click("#confirm-ok")
	wait(`document.querySelector('[data-plugin="keyhash"] .shadow')`)
	if s := text(`[data-plugin="keyhash"] h2`); !strings.Contains(s, "keyhash v1 partitioner on payments") {
		t.Fatalf("plugin heading with a shadow: %q", s)
	}
	if s := text(`[data-plugin="keyhash"] .shadow`); !strings.Contains(s, "shadow v2") || !strings.Contains(s, "compared 0") || !strings.Contains(s, "Promote shadow") {
		t.Fatalf("shadow line: %q", s)
	}
	eval(`document.querySelector('[data-plugin="keyhash"] .shadow').scrollIntoView({block: 'center'})`, nil)
	shot("plugin-shadow")
	click(`[data-promote="keyhash"]`)
	wait("document.querySelector('#confirm').open && document.querySelector('#confirm-text').innerText.includes('Promote shadow v2 of keyhash')")
	click("#confirm-ok")
	wait(`!document.querySelector('[data-plugin="keyhash"] .shadow') && document.querySelector('[data-plugin="keyhash"] h2').innerText.includes('keyhash v2 partitioner on payments')`)
	if s := text(`[data-plugin="keyhash"] p.muted`); !strings.Contains(s, "rollback to v1 possible") {
		t.Fatalf("promoted plugin: %q", s)
	}
	shot("plugin-promoted")
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
