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

// TestTrickledUploadIsCutOff: a client sending its body one byte every
// four seconds is cut off at ReadTimeout, whether or not the handler reads
// the body (/healthz does not; the server reads it to reuse the
// connection).
func TestTrickledUploadIsCutOff(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{ReadTimeout: bridge.Duration(2 * time.Second)})
	n.createTopic(t, "t", 1)
	for _, path := range []string{"/topics/t", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel() // each waits out the read timeout
			c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[", path)
			closed := make(chan time.Duration, 1)
			go func() {
				// Whatever the server answers, it must then close.
				io.Copy(io.Discard, c)
				closed <- time.Since(start)
			}()
			tick := time.NewTicker(4 * time.Second)
			defer tick.Stop()
			for {
				select {
				case took := <-closed:
					if took > 3500*time.Millisecond {
						t.Fatalf("connection closed after %v, want about the 2s read timeout", took)
					}
					return
				case <-tick.C:
					if _, err := c.Write([]byte("1")); err != nil {
						continue // closed: the reader reports when
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the trickled upload is still open after 10s")
				}
			}
		})
	}
}

// TestIdleKeepAliveIsClosed: a keep-alive connection idle past
// IdleTimeout is closed by the server.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{IdleTimeout: bridge.Duration(time.Second)})
	c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first response %d close=%v", resp.StatusCode, resp.Close)
	}
	idle := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := rd.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if took := time.Since(idle); took < 900*time.Millisecond || took > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want about 1s", took)
	}
}

// TestEventStreamOutlivesWriteTimeout: an event stream keeps delivering
// events and heartbeats well past the server's WriteTimeout (and
// ReadTimeout), each write having its own deadline.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{
		WriteTimeout: bridge.Duration(time.Second), ReadTimeout: bridge.Duration(time.Second),
		SSEHeartbeat: bridge.Duration(300 * time.Millisecond),
	})
	n.createTopic(t, "ev", 1)
	s := openStream(t, n.base+"/topics/ev/events?from=earliest")
	if ev := s.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	start := time.Now()
	heartbeats := 0
	for i := range 3 {
		time.Sleep(time.Second)
		produceJSON(t, n, "ev", fmt.Sprintf(`{"value":%d}`, i))
		for {
			ev := s.next(t)
			if ev.comment == "heartbeat" {
				heartbeats++
				continue
			}
			if want := fmt.Sprintf("0:%d", i+1); ev.id != want {
				t.Fatalf("event %d id %q, want %q", i, ev.id, want)
			}
			break
		}
	}
	if took := time.Since(start); took < 3*time.Second || heartbeats < 3 {
		t.Fatalf("stream ran %v with %d heartbeats", took, heartbeats)
	}
}
