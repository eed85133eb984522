package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/cdp"
	"github.com/sluicemq/sluice/internal/needs"
)

// TestTrackerBrowser runs /sluice.js in headless Chromium on a page of
// another origin that reaches the bridge through a proxy it can cut:
// events tracked while the bridge is unreachable, across a page reload,
// are delivered exactly once when it returns, and events whose
// confirmation was lost (put back into the retry queue) are resent and
// dropped by the bridge's event-id dedupe. With requireConsent nothing is
// recorded before consent.
func TestTrackerBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("headless Chromium")
	}
	var base string
	pages := http.NewServeMux()
	var proxyAddr string
	pages.HandleFunc("/sluice.js", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(base + "/sluice.js") // the bridge's own, served first-party
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		io.Copy(w, resp.Body)
	})
	pages.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		opts := `{endpoint: "http://` + proxyAddr + `", topic: "tracked", flushMs: 20, retryMs: 100, maxRetryMs: 300}`
		if r.URL.Query().Get("consent") != "" {
			opts = `{endpoint: "http://` + proxyAddr + `", topic: "consented", flushMs: 20, requireConsent: true}`
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>shop</title><script src="/sluice.js"></script>
<script>sluice.init(%s); sluice.page({q: location.search});</script>`, opts)
	})
	site := httptest.NewServer(pages)
	defer site.Close()

	n := startNode(t, bridge.Config{PublicTopics: []string{"tracked", "consented"}, AllowedOrigins: []string{site.URL}})
	base = n.base
	n.createTopic(t, "tracked", 1)
	n.createTopic(t, "consented", 1)
	proxy := newDropProxy(t, strings.TrimPrefix(n.base, "http://"))
	proxyAddr = proxy.addr()

	br, err := cdp.Launch(needs.Chromium(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	page, err := br.NewPage(ctx, site.URL+"/page.html?1")
	if err != nil {
		t.Fatal(err)
	}
	wait := func(expr string) {
		t.Helper()
		if err := page.WaitTrue(ctx, expr); err != nil {
			var st any
			page.Eval(ctx, "window.sluice && sluice.stats()", &st)
			t.Fatalf("%v (stats %v)", err, st)
		}
	}
	wait("window.sluice && sluice.pending() === 0 && sluice.stats().accepted === 1")

	// The bridge becomes unreachable: three events, then a reload, all
	// wait in the localStorage queue.
	proxy.setDown(true)
	if err := page.Eval(ctx, `sluice.track("add_to_cart", {n: 1}); sluice.track("add_to_cart", {n: 2}); sluice.track("checkout", {n: 3}); true`, nil); err != nil {
		t.Fatal(err)
	}
	wait("sluice.pending() === 3 && sluice.stats().failures >= 1")
	if err := page.Navigate(ctx, site.URL+"/page.html?2"); err != nil {
		t.Fatal(err)
	}
	wait("window.sluice && sluice.pending() === 4 && sluice.stats().failures >= 1")
	var saved string
	if err := page.Eval(ctx, `localStorage.getItem("sluice.q:tracked")`, &saved); err != nil {
		t.Fatal(err)
	}
	if got := n.totalRecords(t, "tracked"); got != 1 {
		t.Fatalf("%d records while the bridge was unreachable", got)
	}

	// It returns: the queue drains, each event exactly once.
	proxy.setDown(false)
	wait("sluice.pending() === 0")
	recs := n.readAll(t, "tracked", 5)
	type event struct {
		EID, Type, Name, UID, SID string
		Props                     map[string]any
	}
	var evs []event
	for i, r := range recs {
		var ev event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("record %d: %s", i, r.Value)
		}
		if h := headerMap(r); h[bridge.HeaderEventID] != ev.EID || h[bridge.HeaderOrigin] != site.URL {
			t.Fatalf("record %d headers %v", i, h)
		}
		evs = append(evs, ev)
	}
	var names []string
	ids := map[string]bool{}
	for _, ev := range evs {
		names = append(names, ev.Type+":"+ev.Name)
		ids[ev.EID] = true
		if ev.UID == "" || ev.UID != evs[0].UID || ev.SID != evs[0].SID {
			t.Fatalf("user/session ids differ: %+v vs %+v", ev, evs[0])
		}
	}
	if got := strings.Join(names, " "); got != "page_view: event:add_to_cart event:add_to_cart event:checkout page_view:" || len(ids) != 5 {
		t.Fatalf("events %s (%d distinct ids)", got, len(ids))
	}

	// Lost confirmations: the four delivered events are queued again (as
	// if their answers never arrived) and a reload resends them with a new
	// page view; the bridge keeps only the new one.
	if err := page.Eval(ctx, fmt.Sprintf(`localStorage.setItem("sluice.q:tracked", %q); true`, saved), nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Navigate(ctx, site.URL+"/page.html?3"); err != nil {
		t.Fatal(err)
	}
	wait("window.sluice && sluice.pending() === 0 && sluice.stats().duplicates === 4 && sluice.stats().accepted === 1")
	time.Sleep(200 * time.Millisecond) // an unload beacon of the old page, if any, is in too
	if got := n.totalRecords(t, "tracked"); got != 6 {
		t.Fatalf("tracked holds %d records, want 6", got)
	}

	// Consent: nothing is recorded or queued before it.
	if err := page.Navigate(ctx, site.URL+"/page.html?consent=1"); err != nil {
		t.Fatal(err)
	}
	wait("window.sluice && sluice.pending() === 0")
	var id any
	if err := page.Eval(ctx, `sluice.track("before_consent")`, &id); err != nil || id != nil {
		t.Fatalf("track before consent: %v %v", id, err)
	}
	if err := page.Eval(ctx, `sluice.consent(true); sluice.track("after_consent")`, &id); err != nil || id == nil {
		t.Fatalf("track after consent: %v %v", id, err)
	}
	wait("sluice.pending() === 0 && sluice.stats().accepted === 1")
	if recs := n.readAll(t, "consented", 1); !strings.Contains(string(recs[0].Value), `"name":"after_consent"`) {
		t.Fatalf("consented: %s", recs[0].Value)
	}
}
