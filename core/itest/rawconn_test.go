package itest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawIOTimeout bounds every read and write on a raw connection.
const rawIOTimeout = 5 * time.Second

// rawConn is a plain TCP connection to the broker for hand-made frames.
type rawConn struct {
	t    testing.TB
	conn net.Conn
}

func dialRaw(t testing.TB, b *broker) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addr(), rawIOTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", b.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

// write sends p as is (the caller includes any size prefix).
func (rc *rawConn) write(p []byte) {
	rc.t.Helper()
	if err := rc.conn.SetWriteDeadline(time.Now().Add(rawIOTimeout)); err != nil {
		rc.t.Fatalf("set write deadline: %v", err)
	}
	if _, err := rc.conn.Write(p); err != nil {
		rc.t.Fatalf("write %d bytes: %v", len(p), err)
	}
}

// writeFrame sends body with a correct size prefix.
func (rc *rawConn) writeFrame(body []byte) {
	rc.t.Helper()
	rc.write(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
	rc.write(body)
}

// request sends req (at its set version) with correlationID.
func (rc *rawConn) request(req kmsg.Request, correlationID int32) {
	rc.t.Helper()
	rc.write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("sluice-itest-raw")).AppendRequest(nil, req, correlationID))
}

// readResponse reads one response frame, checks its correlation ID and
// returns the bytes after it (an ApiVersions response has no tagged header
// fields, whatever its version, so the caller parses from here).
func (rc *rawConn) readResponse(correlationID int32) []byte {
	rc.t.Helper()
	if err := rc.conn.SetReadDeadline(time.Now().Add(rawIOTimeout)); err != nil {
		rc.t.Fatalf("set read deadline: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.conn, size[:]); err != nil {
		rc.t.Fatalf("read response size: %v", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		rc.t.Fatalf("response size %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.conn, body); err != nil {
		rc.t.Fatalf("read %d-byte response: %v", n, err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != correlationID {
		rc.t.Fatalf("response correlation id %d, want %d", got, correlationID)
	}
	return body[4:]
}

// expectClosed fails the test unless the broker closes the connection
// (a clean FIN: the read returns io.EOF) within rawIOTimeout, sending
// nothing first.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	if err := rc.conn.SetReadDeadline(time.Now().Add(rawIOTimeout)); err != nil {
		rc.t.Fatalf("set read deadline: %v", err)
	}
	var buf [1]byte
	n, err := rc.conn.Read(buf[:])
	var netErr net.Error
	switch {
	case n > 0:
		rc.t.Fatalf("broker sent data (%#x...) instead of closing the connection", buf[0])
	case errors.As(err, &netErr) && netErr.Timeout():
		rc.t.Fatalf("broker kept the connection open for %v", rawIOTimeout)
	case !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET):
		// A reset is a close too: the broker refuses to read a bad
		// frame's body, and closing a socket with unread bytes sends RST.
		rc.t.Fatalf("read on closed connection: %v, want EOF or a reset", err)
	}
}

// apiVersions does an ApiVersions round trip at version on rc and returns
// the response decoded as version.
func (rc *rawConn) apiVersions(version int16, correlationID int32) *kmsg.ApiVersionsResponse {
	rc.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName = "sluice-itest"
	req.ClientSoftwareVersion = "1.0.0"
	rc.request(req, correlationID)
	body := rc.readResponse(correlationID)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode ApiVersions v%d response: %v", version, err)
	}
	return resp
}

// checkServing fails the test unless a new connection gets a successful
// ApiVersions answer: the broker survived whatever the test did.
func checkServing(t testing.TB, b *broker) {
	t.Helper()
	resp := dialRaw(t, b).apiVersions(3, 42)
	wantErrCode(t, "ApiVersions v3 on a new connection", resp.ErrorCode, nil)
	if len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v3 on a new connection: no api keys")
	}
}
