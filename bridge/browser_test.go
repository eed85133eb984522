package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/cdp"
	"github.com/sluicemq/sluice/internal/needs"
)

// TestBrowser runs one headless Chromium against the example pages: the
// tracking page's sendBeacon page view and click plus its pixel arrive as
// exactly three records, and the EventSource dashboard survives a network
// drop (automatic reconnect with Last-Event-ID) and a manual drop/restore
// (?lastEventId=) with no loss and no duplicates.
func TestBrowser(t *testing.T) {
	chromium := needs.Chromium(t) // first: skips under -short before a node is started for nothing
	n := startNode(t, bridge.Config{
		PublicTopics: []string{"web-events"},
		ExamplesDir:  "../examples",
		SSERetry:     bridge.Duration(200 * time.Millisecond),
		SSEHeartbeat: bridge.Duration(time.Second),
	})
	n.createTopic(t, "web-events", 1)
	n.createTopic(t, "live", 2)
	proxy := newDropProxy(t, strings.TrimPrefix(n.base, "http://"))
	site := "http://" + proxy.addr()

	br, err := cdp.Launch(chromium, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("tracking", func(t *testing.T) {
		page, err := br.NewPage(ctx, site+"/examples/web-tracking/index.html?topic=web-events")
		if err != nil {
			t.Fatal(err)
		}
		if err := page.WaitTrue(ctx, "window.sluiceTracking"); err != nil {
			t.Fatal(err)
		}
		waitRecords(t, n, "web-events", 2) // page view beacon and pixel
		if err := page.Eval(ctx, "document.getElementById('buy').click()", nil); err != nil {
			t.Fatal(err)
		}
		recs := n.readAll(t, "web-events", 3)
		var pageViewID string
		if err := page.Eval(ctx, "window.sluiceTracking.pageViewId", &pageViewID); err != nil {
			t.Fatal(err)
		}
		var types []string
		for i, r := range recs {
			var ev map[string]any
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("record %d value %q: %v", i, r.Value, err)
			}
			if ev["page_view_id"] != pageViewID {
				t.Fatalf("record %d page_view_id %v, want %s", i, ev["page_view_id"], pageViewID)
			}
			types = append(types, ev["type"].(string))
			h := headerMap(r)
			if !strings.Contains(h[bridge.HeaderUserAgent], "Chrome") || h[bridge.HeaderClientIP] != "127.0.0.1" ||
				h[bridge.HeaderContentType] != "application/json" || h[bridge.HeaderReceivedAt] == "" {
				t.Fatalf("record %d headers %v", i, h)
			}
			if !strings.HasPrefix(h[bridge.HeaderReferer], site+"/examples/web-tracking/") {
				t.Fatalf("record %d referer %q", i, h[bridge.HeaderReferer])
			}
		}
		first := append([]string{}, types[:2]...)
		sort.Strings(first)
		if got := strings.Join(first, ",") + "," + types[2]; got != "page_view,pixel_view,click" {
			t.Fatalf("record types %v", types)
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		page, err := br.NewPage(ctx, site+"/examples/web-tracking/dashboard.html?topic=live&from=earliest")
		if err != nil {
			t.Fatal(err)
		}
		if err := page.WaitTrue(ctx, "window.sluiceDashboard && sluiceDashboard.opens() === 1 && sluiceDashboard.lastEventId() !== ''"); err != nil {
			t.Fatal(err)
		}
		next := 0
		produce := func(count int) {
			t.Helper()
			var sb strings.Builder
			for i := 0; i < count; i++ {
				fmt.Fprintf(&sb, `,{"value":{"i":%d},"partition":%d}`, next, next%2)
				next++
			}
			body := `{"records":[` + sb.String()[1:] + `]}`
			if status, resp, _ := do(t, "POST", n.base+"/topics/live", "application/vnd.kafka.json.v2+json", strings.NewReader(body)); status != 200 {
				t.Fatalf("produce: %d %s", status, resp)
			}
		}
		waitCount := func(want int) {
			t.Helper()
			if err := page.WaitTrue(ctx, fmt.Sprintf("sluiceDashboard.received.length >= %d", want)); err != nil {
				t.Fatal(err)
			}
		}
		produce(6)
		waitCount(6)

		// Network outage: the browser reconnects by itself, sending Last-Event-ID.
		proxy.setDown(true)
		produce(6)
		time.Sleep(300 * time.Millisecond) // at least one refused reconnect
		proxy.setDown(false)
		waitCount(12)
		if err := page.WaitTrue(ctx, "sluiceDashboard.opens() === 2"); err != nil {
			t.Fatal(err)
		}

		// Manual drop and restore from the page's last event id.
		if err := page.Eval(ctx, "sluiceDashboard.drop()", nil); err != nil {
			t.Fatal(err)
		}
		produce(6)
		if err := page.Eval(ctx, "sluiceDashboard.restore()", nil); err != nil {
			t.Fatal(err)
		}
		waitCount(18)
		time.Sleep(300 * time.Millisecond) // a duplicate would show up by now

		var got []struct {
			Partition int32          `json:"partition"`
			Offset    int64          `json:"offset"`
			Value     map[string]int `json:"value"`
		}
		if err := page.Eval(ctx, "sluiceDashboard.received", &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 18 {
			t.Fatalf("dashboard received %d records, want 18: %+v", len(got), got)
		}
		seen := map[int]bool{}
		nextOffset := map[int32]int64{}
		for _, r := range got {
			i := r.Value["i"]
			if seen[i] {
				t.Fatalf("duplicate record i=%d", i)
			}
			seen[i] = true
			if r.Partition != int32(i%2) || r.Offset != nextOffset[r.Partition] {
				t.Fatalf("record i=%d at %d/%d, want partition %d offset %d", i, r.Partition, r.Offset, i%2, nextOffset[r.Partition])
			}
			nextOffset[r.Partition]++
		}
	})
}

// waitRecords waits until topic holds want records.
func waitRecords(t *testing.T, n *testNode, topic string, want int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for n.totalRecords(t, topic) < want {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d records, want %d", topic, n.totalRecords(t, topic), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
