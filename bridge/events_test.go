package bridge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

// sseEvent is one parsed Server-Sent Event (or a comment).
type sseEvent struct {
	id, event, data, comment string
}

type sseStream struct {
	resp *http.Response
	rd   *bufio.Reader
}

func openStream(t *testing.T, url string, hdr ...string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream %s: %d %s", url, resp.StatusCode, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next reads one event (or comment), skipping the retry: field.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	got := false
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if got {
				return ev
			}
			continue
		}
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "id":
			ev.id, got = value, true
		case "event":
			ev.event, got = value, true
		case "data":
			ev.data, got = value, true
		case "":
			ev.comment, got = value, true
		}
	}
}

func (s *sseStream) close() { s.resp.Body.Close() }

func produceJSON(t *testing.T, n *testNode, topic, records string) {
	t.Helper()
	status, body, _ := do(t, "POST", n.base+"/topics/"+topic, "application/vnd.kafka.json.v2+json", strings.NewReader(`{"records":[`+records+`]}`))
	if status != 200 {
		t.Fatalf("produce: %d %s", status, body)
	}
}

func TestEventsResumeExactly(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{SSEHeartbeat: bridge.Duration(150 * time.Millisecond), SSERetry: bridge.Duration(500 * time.Millisecond)})
	n.createTopic(t, "ev", 2)
	produceJSON(t, n, "ev", `{"key":"a","value":0,"partition":0},{"key":"b","value":1,"partition":1},{"key":"a","value":2,"partition":0},{"key":"b","value":3,"partition":1}`)

	s := openStream(t, n.base+"/topics/ev/events?from=earliest")
	if s.resp.Header.Get("Content-Type") != "text/event-stream" || s.resp.Header.Get("X-Accel-Buffering") != "no" || s.resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", s.resp.Header)
	}
	if line, _ := s.rd.ReadString('\n'); line != "retry: 500\n" {
		t.Fatalf("first line %q", line)
	}
	if ev := s.next(t); ev.event != "ready" || ev.id != "0:0,1:0" || ev.data != `{"topic":"ev"}` {
		t.Fatalf("ready event %+v", ev)
	}
	var evs []sseEvent
	for len(evs) < 4 {
		if ev := s.next(t); ev.comment == "" {
			evs = append(evs, ev)
		}
	}
	// Records of a partition arrive in order; the id carries both partitions.
	byValue := map[string]sseEvent{}
	for _, ev := range evs {
		byValue[ev.data[strings.Index(ev.data, `"value":`)+8:][:1]] = ev
	}
	if ev := byValue["2"]; !strings.HasPrefix(ev.data, `{"topic":"ev","partition":0,"offset":1,"timestamp":`) || !strings.HasSuffix(ev.data, `,"key":"a","value":2}`) {
		t.Fatalf("event data %s", ev.data)
	}
	last := evs[3].id
	if last != "0:2,1:2" {
		t.Fatalf("last id %q", last)
	}
	if ev := s.next(t); ev.comment != "heartbeat" {
		t.Fatalf("want heartbeat, got %+v", ev)
	}
	mid := evs[1].id // resume from the second event
	s.close()

	produceJSON(t, n, "ev", `{"value":4,"partition":0},{"value":5,"partition":1}`)
	r := openStream(t, n.base+"/topics/ev/events?from=latest", "Last-Event-ID", mid)
	if ev := r.next(t); ev.event != "ready" || ev.id != mid {
		t.Fatalf("resume ready %+v, want id %s", ev, mid)
	}
	var values []string
	seenPart := map[string]bool{}
	for len(values) < 4 {
		ev := r.next(t)
		if ev.comment != "" {
			continue
		}
		v := ev.data[strings.Index(ev.data, `"value":`)+8:]
		values = append(values, strings.TrimSuffix(v, "}"))
		seenPart[v] = true
	}
	got := map[string]bool{}
	for _, v := range values {
		got[v] = true
	}
	// mid covered exactly two of the first four; the other two plus 4 and 5 follow.
	wantCount := 0
	for _, v := range []string{"0", "1", "2", "3"} {
		if got[v] {
			wantCount++
		}
	}
	if len(got) != 4 || !got["4"] || !got["5"] || wantCount != 2 {
		t.Fatalf("resumed values %v after %s", values, mid)
	}
	r.close()

	// Key filter and a latest start.
	k := openStream(t, n.base+"/topics/ev/events?from=earliest&key=%22b%22&format=binary")
	k.next(t)
	var keyed []string
	for len(keyed) < 2 {
		if ev := k.next(t); ev.comment == "" {
			keyed = append(keyed, ev.data)
		}
	}
	for _, d := range keyed {
		if !strings.Contains(d, `"key":"ImIi"`) { // base64 of the JSON text "b"
			t.Fatalf("key filter passed %s", d)
		}
	}
	k.close()
	l := openStream(t, n.base+"/topics/ev/events")
	if ev := l.next(t); ev.id != "0:3,1:3" {
		t.Fatalf("latest ready id %q", ev.id)
	}
	l.close()

	status, body, _ := do(t, "GET", n.base+"/topics/ev/events?lastEventId=garbage", "", nil)
	if status != 400 || body != `{"error_code":42201,"message":"malformed event id: \"garbage\""}` {
		t.Fatalf("bad id: %d %s", status, body)
	}
	status, body, _ = do(t, "GET", n.base+"/topics/ev/events?from=yesterday", "", nil)
	if status != 422 || body != `{"error_code":42201,"message":"from must be earliest, latest, epoch milliseconds or RFC 3339, not \"yesterday\""}` {
		t.Fatalf("bad from: %d %s", status, body)
	}
	status, body, _ = do(t, "GET", n.base+"/topics/nope/events", "", nil)
	if status != 404 || body != `{"error_code":40401,"message":"Topic not found."}` {
		t.Fatalf("missing topic: %d %s", status, body)
	}
}

func TestEventsClientLimitAndTimestampStart(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxSSEClients: 1})
	n.createTopic(t, "ev", 1)
	produceJSON(t, n, "ev", `{"value":"old"}`)
	time.Sleep(20 * time.Millisecond)
	cut := time.Now().UnixMilli()
	time.Sleep(20 * time.Millisecond)
	produceJSON(t, n, "ev", `{"value":"new"}`)

	s := openStream(t, fmt.Sprintf("%s/topics/ev/events?from=%d", n.base, cut))
	if ev := s.next(t); ev.id != "0:1" {
		t.Fatalf("timestamp start id %q", ev.id)
	}
	if ev := s.next(t); !strings.HasSuffix(ev.data, `"value":"new"}`) {
		t.Fatalf("first event after the time: %s", ev.data)
	}
	status, body, hdr := do(t, "GET", n.base+"/topics/ev/events", "", nil)
	if status != 503 || body != `{"error_code":50301,"message":"Too many event streams (limit 1); retry later."}` || hdr.Get("Retry-After") != "5" {
		t.Fatalf("second stream: %d %s %v", status, body, hdr)
	}
	s.close()
}

// A client that sends headers and then trickles its body gets 408.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{ReadTimeout: bridge.Duration(300 * time.Millisecond)})
	n.createTopic(t, "t", 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[1,")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || string(b) != `{"error_code":40801,"message":"Timed out reading the request body."}` {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got := n.totalRecords(t, "t"); got != 0 {
		t.Fatalf("%d records", got)
	}
}
