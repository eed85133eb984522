package plugins_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// sseValues opens an SSE stream and returns the values of its first want
// record events (the "ready" event is skipped).
func sseValues(t *testing.T, url string, want int) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d", url, resp.StatusCode)
	}
	type result struct {
		vals []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var vals []string
		rd := bufio.NewReader(resp.Body)
		event := ""
		for len(vals) < want {
			line, err := rd.ReadString('\n')
			if err != nil {
				done <- result{vals, err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "":
				var rec struct {
					Value  string `json:"value"`
					Offset int64  `json:"offset"`
				}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &rec); err != nil {
					done <- result{vals, err}
					return
				}
				vals = append(vals, fmt.Sprintf("%s:%d", rec.Value, rec.Offset))
			case line == "":
				event = ""
			}
		}
		done <- result{vals, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("stream %s after %v: %v", url, r.vals, r.err)
		}
		return r.vals
	case <-time.After(20 * time.Second):
		t.Fatalf("stream %s: fewer than %d events in 20s", url, want)
	}
	return nil
}

// TestE2ETenantFilterByPrincipal: the tenant filter keys on the
// authenticated principal. Over the bridge, tokens are principals
// (User:acme, User:globex) and each sees its own records; a Kafka client
// claiming client.id "acme" without authenticating is User:ANONYMOUS and
// sees no tenant's records.
func TestE2ETenantFilterByPrincipal(t *testing.T) {
	t.Parallel()
	// No initial rebalance delay: the REST consumers below each join a
	// group of one, and the 3 s hold tested nothing here.
	n := wrapNode(testkit.StartNode(t, testkit.WithLogger(quietLogger),
		testkit.WithConfig(func(c *node.Config) { c.GroupInitialRebalanceDelay = -1 }), testkit.WithOptions(node.Options{Bridge: bridge.Config{Tokens: []bridge.Token{
			{Name: "acme", Secret: "acme-token", Topics: []string{"events"}, Operations: []string{"consume"}},
			{Name: "globex", Secret: "globex-token", Topics: []string{"events"}, Operations: []string{"consume"}},
		}}})))
	base := n.http
	n.createTopic(t, "events", 1)
	n.deploy(t, "tenants", "filter", "events", "tenant-filter", "show_untagged=true")
	cl := n.client(t)
	tenant := func(v string) []kgo.RecordHeader { return []kgo.RecordHeader{{Key: "tenant", Value: []byte(v)}} }
	err := produce(t, cl,
		&kgo.Record{Topic: "events", Value: []byte("acme-1"), Headers: tenant("acme")},
		&kgo.Record{Topic: "events", Value: []byte("globex-1"), Headers: tenant("globex")},
		&kgo.Record{Topic: "events", Value: []byte("untagged")},
		&kgo.Record{Topic: "events", Value: []byte("acme-2"), Headers: tenant("acme")},
		&kgo.Record{Topic: "events", Value: []byte("globex-2"), Headers: tenant("globex")},
		&kgo.Record{Topic: "events", Value: []byte("end")},
	)
	if err != nil {
		t.Fatal(err)
	}
	// Spoofed client ids: anonymous readers see only the untagged records.
	for _, client := range []string{"acme", "globex", "User:acme"} {
		var got []string
		for _, r := range consumeAll(t, n, "events", client, 2) {
			got = append(got, fmt.Sprintf("%s:%d", r.Value, r.Offset))
		}
		if fmt.Sprint(got) != "[untagged:2 end:5]" {
			t.Fatalf("client id %s sees %v", client, got)
		}
	}
	// Principals over SSE: each its own, in order, nothing of the other.
	for token, want := range map[string]string{
		"acme-token":   "[acme-1:0 untagged:2 acme-2:3 end:5]",
		"globex-token": "[globex-1:1 untagged:2 globex-2:4 end:5]",
	} {
		got := sseValues(t, base+"/topics/events/events?from=earliest&access_token="+token, 4)
		if fmt.Sprint(got) != want {
			t.Fatalf("%s sees %v, want %s", token, got, want)
		}
		// REST Proxy consumer instances are filtered the same way.
		if got := restValues(t, base, token, 4); fmt.Sprint(got) != want {
			t.Fatalf("%s REST consumer sees %v, want %s", token, got, want)
		}
	}
}

// restValues consumes the events topic through a v2 consumer instance
// until it has want records.
func restValues(t *testing.T, base, token string, want int) []string {
	t.Helper()
	call := func(method, path, body string, accept string) (int, []byte) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/vnd.kafka.v2+json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	group := "g-" + token
	if code, b := call("POST", "/consumers/"+group, `{"name":"c","format":"json","auto.offset.reset":"earliest"}`, ""); code != 200 {
		t.Fatalf("create consumer: %d %s", code, b)
	}
	inst := "/consumers/" + group + "/instances/c"
	if code, b := call("POST", inst+"/subscription", `{"topics":["events"]}`, ""); code != 204 {
		t.Fatalf("subscribe: %d %s", code, b)
	}
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("REST consumer got %v", got)
		}
		code, b := call("GET", inst+"/records?timeout=1000", "", "application/vnd.kafka.json.v2+json")
		var recs []struct {
			Value  string `json:"value"`
			Offset int64  `json:"offset"`
		}
		if code != 200 || json.Unmarshal(b, &recs) != nil {
			t.Fatalf("records: %d %s", code, b)
		}
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s:%d", r.Value, r.Offset))
		}
	}
	call("DELETE", inst, "", "")
	return got
}
