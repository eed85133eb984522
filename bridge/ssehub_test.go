package bridge_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

// kafkaConns counts established TCP connections to the broker's Kafka
// port (the client side of every Kafka client in this process).
func kafkaConns(t *testing.T, kafkaAddr string) int {
	t.Helper()
	_, portStr, _ := strings.Cut(kafkaAddr, ":")
	port, _ := strconv.Atoi(portStr)
	suffix := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[2], suffix) && fields[3] == "01" {
				n++
			}
		}
	}
	return n
}

// TestEventStreamsShareOneReader: twenty streams of one topic, opened at
// different positions (latest, earliest, a Last-Event-ID), all get every
// record exactly once and in order, over a bounded number of Kafka
// connections (one shared reader, not a client per stream); when they end
// the shared reader stops.
func TestEventStreamsShareOneReader(t *testing.T) {
	n := startNode(t, bridge.Config{SSEHeartbeat: bridge.Duration(time.Minute)})
	n.createTopic(t, "fan", 2)
	produceJSON(t, n, "fan", `{"value":0,"partition":0},{"value":1,"partition":1}`)
	// Settle the bridge's own producer and admin connections.
	base := kafkaConns(t, n.kafka)

	const streams = 20
	var ss []*sseStream
	for i := range streams {
		url := n.base + "/topics/fan/events"
		var hdr []string
		switch i % 3 {
		case 0:
			url += "?from=latest"
		case 1:
			url += "?from=earliest"
		case 2:
			hdr = []string{"Last-Event-ID", "0:1,1:0"} // has seen value 0 only
		}
		s := openStream(t, url, hdr...)
		if ev := s.next(t); ev.event != "ready" {
			t.Fatalf("stream %d: first event %+v", i, ev)
		}
		ss = append(ss, s)
	}
	// Every stream from earliest or the id must have caught up before the
	// next records go out for the expectations below to hold exactly, but
	// correctness does not depend on it: produce right away.
	produceJSON(t, n, "fan", `{"value":2,"partition":0},{"value":3,"partition":1},{"value":4,"partition":0}`)
	want := map[int][]string{
		0: {"2", "3", "4"},
		1: {"0", "1", "2", "3", "4"},
		2: {"1", "2", "3", "4"},
	}
	for i, s := range ss {
		var got []string
		byPart := map[string][]string{}
		for len(got) < len(want[i%3]) {
			ev := s.next(t)
			if ev.comment != "" {
				continue
			}
			v := ev.data[strings.Index(ev.data, `"value":`)+8:]
			v = strings.TrimSuffix(v, "}")
			got = append(got, v)
			p := ev.data[strings.Index(ev.data, `"partition":`)+12:][:1]
			byPart[p] = append(byPart[p], v)
		}
		if len(got) != len(want[i%3]) || !sameSet(got, want[i%3]) {
			t.Fatalf("stream %d (kind %d): values %v, want %v", i, i%3, got, want[i%3])
		}
		for p, vs := range byPart {
			for j := 1; j < len(vs); j++ {
				if vs[j] < vs[j-1] {
					t.Fatalf("stream %d partition %s out of order: %v", i, p, vs)
				}
			}
		}
	}
	conns := kafkaConns(t, n.kafka) - base
	t.Logf("%d streams: %+d Kafka connections", streams, conns)
	if conns > 3 {
		t.Fatalf("%d streams opened %d Kafka connections, want a shared reader's few", streams, conns)
	}
	for _, s := range ss {
		s.close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for kafkaConns(t, n.kafka) > base && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := kafkaConns(t, n.kafka); got > base {
		t.Fatalf("%d Kafka connections after the streams ended, %d before", got, base)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, v := range a {
		m[v]++
	}
	for _, v := range b {
		m[v]--
	}
	for _, c := range m {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestEventStreamsPerIPLimit: one client IP gets at most
// MaxSSEStreamsPerIP streams; a slot frees when a stream ends.
func TestEventStreamsPerIPLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxSSEStreamsPerIP: 2})
	n.createTopic(t, "ip", 1)
	a := openStream(t, n.base+"/topics/ip/events")
	openStream(t, n.base+"/topics/ip/events")
	status, body, hdr := do(t, "GET", n.base+"/topics/ip/events", "", nil)
	if status != 429 || body != `{"error_code":42901,"message":"Too many event streams from this client (limit 2); retry later."}` || hdr.Get("Retry-After") != "5" {
		t.Fatalf("third stream: %d %s %v", status, body, hdr)
	}
	a.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _, _ := doStreamStatus(t, n.base+"/topics/ip/events")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a stream ended: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// doStreamStatus opens a stream, returns its status and closes it.
func doStreamStatus(t *testing.T, url string) (int, string, error) {
	t.Helper()
	resp, err := httpGet(url)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, "", nil
}

func httpGet(url string) (*http.Response, error) { return http.Get(url) }
