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
		PublicTopics: []string{"web-events", "shop-events"},
		ExamplesDir:  "../examples",
		SSERetry:     bridge.Duration(200 * time.Millisecond),
		SSEHeartbeat: bridge.Duration(time.Second),
	})
	n.createTopic(t, "web-events", 1)
	n.createTopic(t, "live", 2)
	n.createTopic(t, "shop-events", 1)
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

	t.Run("shop", func(t *testing.T) { shopVisit(t, ctx, br, n, site) })

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

// TestBrowser's "shop" subtest: a visitor browses the demo shop (home,
// product list, a category filter, add to cart, cart, check-out) while the
// dashboard watches; the dashboard ends up with exact counts per event type
// and per page, the clicks by target, and the latest event first.
func shopVisit(t *testing.T, ctx context.Context, br *cdp.Browser, n *testNode, site string) {
	const topic = "shop-events"
	dash, err := br.NewPage(ctx, site+"/examples/web-tracking/dashboard.html?topic="+topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := dash.WaitTrue(ctx, "window.sluiceDashboard && sluiceDashboard.opens() === 1 && sluiceDashboard.lastEventId() !== ''"); err != nil {
		t.Fatal(err)
	}
	var empty bool
	if err := dash.Eval(ctx, "!document.getElementById('empty').hidden", &empty); err != nil || !empty {
		t.Fatalf("dashboard does not show its empty state (%v)", err)
	}

	shop, err := br.NewPage(ctx, site+"/examples/web-tracking/?topic="+topic)
	if err != nil {
		t.Fatal(err)
	}
	step := func(action, until string) {
		t.Helper()
		if action != "" {
			if err := shop.Eval(ctx, action, nil); err != nil {
				t.Fatalf("%s: %v", action, err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := shop.WaitTrue(wctx, until); err != nil {
			var state string
			shop.Eval(ctx, "location.href + ' cart=' + JSON.stringify(window.sluiceShop && sluiceShop.cart()) + ' badge=' + (document.getElementById('cart-count') || {}).textContent", &state)
			t.Fatalf("%v (page: %s)", err, state)
		}
	}
	onPage := func(path string) string {
		return "window.sluiceShop && window.sluiceTracking && location.pathname === '/examples/web-tracking/" + path +
			"' && new URLSearchParams(location.search).get('topic') === '" + topic + "'"
	}
	step("", onPage("")+" && document.querySelectorAll('#popular .card').length === 3")
	// The tracking subtest's Buy put a product in this origin's cart.
	step("localStorage.removeItem('sluice-demo-cart')", "window.sluiceShop.cartCount() === 0")
	step("document.querySelector('nav a[data-track=nav-products]').click()", onPage("products.html")+" && document.querySelectorAll('#products .card').length === 8")
	step("document.querySelector('#filters [data-value=Gear]').click()", "document.querySelectorAll('#products .card').length === 3")
	step("document.querySelector('[data-track=add-to-cart][data-product=gooseneck-kettle]').click()", "document.getElementById('cart-count').textContent === '1'")
	step("document.querySelector('a[data-track=nav-cart]').click()", onPage("cart.html")+" && document.getElementById('cart-total') && document.getElementById('cart-total').textContent === '€49.00'")
	// Page views and pixels of the three pages and four clicks so far,
	// so that check-out is the newest event.
	waitRecords(t, n, topic, 10)
	step("document.getElementById('checkout').click()", "document.querySelector('#cart .notice') && document.getElementById('cart-count').textContent === '0'")
	recs := n.readAll(t, topic, 11)
	if len(recs) != 11 {
		t.Fatalf("%d records", len(recs))
	}

	if err := dash.WaitTrue(ctx, "sluiceDashboard.received.length === 11 && document.querySelectorAll('#records tr').length === 11"); err != nil {
		t.Fatal(err)
	}
	var view struct {
		Types  map[string]string `json:"types"`
		Pages  [][]string        `json:"pages"`
		Clicks [][]string        `json:"clicks"`
		Latest []string          `json:"latest"`
		Empty  bool              `json:"empty"`
	}
	cells := func(sel string) string {
		return "Array.from(document.querySelectorAll('" + sel + " tr')).map(tr => Array.from(tr.children).map(td => td.textContent))"
	}
	expr := "({types: Object.fromEntries(Array.from(document.querySelectorAll('#types .stat')).map(s => [s.querySelector('.label').textContent, s.querySelector('.value').textContent]))," +
		"pages: " + cells("#pages") + ", clicks: " + cells("#clicks") + "," +
		"latest: Array.from(document.querySelector('#records tr').children).map(td => td.textContent)," +
		"empty: !document.getElementById('empty').hidden})"
	if err := dash.Eval(ctx, expr, &view); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"page_view": "3", "pixel_view": "3", "click": "5"}; fmt.Sprint(view.Types) != fmt.Sprint(want) {
		t.Errorf("counts per type %v, want %v", view.Types, want)
	}
	wantPages := [][]string{
		{"/examples/web-tracking/products.html", "1", "3", "1", "5"}, // filter, add to cart, cart link
		{"/examples/web-tracking/", "1", "1", "1", "3"},              // the Shop link
		{"/examples/web-tracking/cart.html", "1", "1", "1", "3"},     // check-out
	}
	if fmt.Sprint(view.Pages) != fmt.Sprint(wantPages) {
		t.Errorf("pages table %v, want %v", view.Pages, wantPages)
	}
	if len(view.Clicks) != 5 {
		t.Errorf("clicks table %v, want the 5 targets", view.Clicks)
	}
	if len(view.Latest) != 5 || view.Latest[1] != "click" || view.Latest[2] != "/examples/web-tracking/cart.html" || view.Latest[3] != "checkout · 49.00" {
		t.Errorf("latest event %v, want the check-out click", view.Latest)
	}
	if view.Empty {
		t.Errorf("dashboard still shows its empty state")
	}
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
