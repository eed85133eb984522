package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// replicaConn is a fetcher's own connection to its leader for replica
// fetches. kgo allocates (and zeroes) a new buffer for every response
// frame, which for a follower moving megabytes per fetch was a sixth of
// its CPU; this connection reads each frame into a pooled buffer and
// decodes it into a reused kmsg.FetchResponse whose record batches alias
// that buffer until the fetch's appends are done. It dials with the
// client's dialer (TLS included) and authenticates with the client's SASL
// mechanisms, so it is as secure as the kgo client it stands beside.
type replicaConn struct {
	cl     *kgo.Client // for the dialer, SASL mechanisms and the leader's address
	leader int32
	id     string // client id

	conn    net.Conn
	r       *bufio.Reader
	corr    int32
	wbuf    []byte
	expires time.Time // SASL session end (zero: none); we reconnect before it
	resp    kmsg.FetchResponse
}

// replicaFrameMax bounds a response frame read off the wire: a fetch
// answers at most its MaxBytes, except that a single batch larger than
// that is still sent whole; anything past this bound is not a sane answer.
const replicaFrameMax = 128 << 20

// frameBufs pools response frame buffers across fetchers.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func newReplicaConn(cl *kgo.Client, leader int32, clientID string) *replicaConn {
	return &replicaConn{cl: cl, leader: leader, id: clientID}
}

// close drops the connection; the next request dials again.
func (c *replicaConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// leaderAddr asks the kgo client's view of the cluster (a Metadata
// request) for the leader's address.
func (c *replicaConn) leaderAddr(ctx context.Context) (string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return "", err
	}
	for _, b := range resp.Brokers {
		if b.NodeID == c.leader {
			return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), nil
		}
	}
	return "", fmt.Errorf("cluster: leader %d not in metadata", c.leader)
}

// dial connects and authenticates when there is no live connection.
func (c *replicaConn) dial(ctx context.Context) error {
	if c.conn != nil && (c.expires.IsZero() || time.Now().Before(c.expires)) {
		return nil
	}
	c.close()
	addr, err := c.leaderAddr(ctx)
	if err != nil {
		return err
	}
	dialFn, _ := c.cl.OptValue(kgo.Dialer).(func(context.Context, string, string) (net.Conn, error))
	if dialFn == nil {
		return errors.New("cluster: kgo client has no dialer")
	}
	conn, err := dialFn(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c.conn, c.r, c.expires = conn, bufio.NewReaderSize(conn, 32<<10), time.Time{}
	stop := c.deadline(ctx)
	defer stop()
	if err := c.authenticate(ctx, addr); err != nil {
		c.close()
		return err
	}
	return nil
}

// deadline makes the connection's reads and writes fail when ctx ends
// (its deadline, or the fetcher stopping). The returned func undoes it.
func (c *replicaConn) deadline(ctx context.Context) func() bool {
	conn := c.conn
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	} else {
		conn.SetDeadline(time.Time{})
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// authenticate runs SASL (SaslHandshake v1, SaslAuthenticate v1) with the
// client's first mechanism, as kgo would.
func (c *replicaConn) authenticate(ctx context.Context, addr string) error {
	mechs, _ := c.cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if len(mechs) == 0 {
		return nil
	}
	mech := mechs[0]
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = mech.Name()
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	if err := c.roundTrip(hs, hsResp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("cluster: SASL handshake: %w", err)
	}
	session, clientWrite, err := mech.Authenticate(ctx, addr)
	if err != nil {
		return err
	}
	var lifetime int64
	for done := false; !done || len(clientWrite) > 0; {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version = 1
		req.SASLAuthBytes = clientWrite
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := c.roundTrip(req, resp); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("cluster: SASL authenticate: %w", err)
		}
		lifetime = resp.SessionLifetimeMillis
		clientWrite = nil
		if !done {
			if done, clientWrite, err = session.Challenge(resp.SASLAuthBytes); err != nil {
				return err
			}
		}
	}
	if lifetime > 0 {
		// Reconnect well before the server would close the session.
		lifetime = min(lifetime, int64(365*24*time.Hour/time.Millisecond))
		c.expires = time.Now().Add(time.Duration(lifetime) * time.Millisecond * 8 / 10)
	}
	return nil
}

// roundTrip writes req and decodes its answer into resp; the frame buffer
// goes back to the pool (resp must not alias it: small requests only).
func (c *replicaConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	buf, body, err := c.exchange(req, 1<<20)
	if err != nil {
		return err
	}
	defer putFrame(buf)
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}

// exchange writes req and reads its answer's frame into a pooled buffer
// (returned for putFrame once body, which aliases it, is no longer used).
func (c *replicaConn) exchange(req kmsg.Request, maxFrame int) (buf *[]byte, body []byte, err error) {
	c.corr++
	w := append(c.wbuf[:0], 0, 0, 0, 0)
	w = binary.BigEndian.AppendUint16(w, uint16(req.Key()))
	w = binary.BigEndian.AppendUint16(w, uint16(req.GetVersion()))
	w = binary.BigEndian.AppendUint32(w, uint32(c.corr))
	w = binary.BigEndian.AppendUint16(w, uint16(len(c.id)))
	w = append(w, c.id...)
	if req.IsFlexible() {
		w = append(w, 0) // no tagged header fields
	}
	w = req.AppendTo(w)
	binary.BigEndian.PutUint32(w, uint32(len(w)-4))
	c.wbuf = w
	if _, err := c.conn.Write(w); err != nil {
		c.close()
		return nil, nil, err
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		c.close()
		return nil, nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(sz[:])))
	if n < 4 || n > maxFrame {
		c.close()
		return nil, nil, fmt.Errorf("cluster: leader answered a %d-byte frame (bound %d)", n, maxFrame)
	}
	buf = frameBufs.Get().(*[]byte)
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	frame := (*buf)[:n]
	if _, err := io.ReadFull(c.r, frame); err != nil {
		putFrame(buf)
		c.close()
		return nil, nil, err
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != c.corr {
		putFrame(buf)
		c.close()
		return nil, nil, fmt.Errorf("cluster: response correlation id %d, want %d", got, c.corr)
	}
	body = frame[4:]
	if req.IsFlexible() {
		if body, err = skipTags(body); err != nil {
			putFrame(buf)
			c.close()
			return nil, nil, err
		}
	}
	return buf, body, nil
}

// skipTags skips a flexible response header's tagged fields.
func skipTags(b []byte) ([]byte, error) {
	r := kbinReader{b}
	n := r.uvarint()
	for i := uint64(0); i < n && r.ok(); i++ {
		r.uvarint() // tag
		r.skip(r.uvarint())
	}
	if !r.ok() {
		return nil, errors.New("cluster: malformed response header tags")
	}
	return r.b, nil
}

type kbinReader struct{ b []byte }

func (r *kbinReader) ok() bool { return r.b != nil }

func (r *kbinReader) uvarint() uint64 {
	if r.b == nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *kbinReader) skip(n uint64) {
	if r.b == nil || n > uint64(len(r.b)) {
		r.b = nil
		return
	}
	r.b = r.b[n:]
}

func putFrame(buf *[]byte) {
	if buf != nil {
		frameBufs.Put(buf)
	}
}

// fetch sends a replica fetch and decodes the answer into the reused
// response. Its record batches alias the returned buffer: putFrame it
// once they are appended.
func (c *replicaConn) fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, *[]byte, error) {
	if err := c.dial(ctx); err != nil {
		return nil, nil, err
	}
	stop := c.deadline(ctx)
	defer stop()
	buf, body, err := c.exchange(req, replicaFrameMax)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return nil, nil, err
	}
	c.resp.Version = req.Version
	if err := c.resp.ReadFrom(body); err != nil {
		putFrame(buf)
		c.close()
		return nil, nil, err
	}
	return &c.resp, buf, nil
}
