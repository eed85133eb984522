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
	// lookup, if set, gives the leader's address from the metadata
	// store's cache (ok false: not listed); leaderAddr asks a broker
	// otherwise.
	lookup func(id int32) (addr string, ok bool)

	conn net.Conn
	// frame is the buffer every answer is read into: one fetch is in
	// flight at a time, and its batches are appended before the next.
	frame   []byte
	small   int // answers in a row that used under a quarter of frame
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

// frameGrain rounds frame buffers up, so that answers growing by a few
// bytes do not reallocate each time.
const frameGrain = 256 << 10

// frameShrinkAfter: a fetcher's frame buffer is let go after this many
// answers in a row used under a quarter of it (a burst's large buffer is
// not kept for an idle follower).
const frameShrinkAfter = 64

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
//
// With lookup, the store's cache answers without a round trip: a Metadata
// request goes to any broker kgo picks, and when that is one that just
// stopped (the old leader of a rolling restart), kgo's retry backoff
// (250 ms) held up the first fetch from the new leader.
func (c *replicaConn) leaderAddr(ctx context.Context) (string, error) {
	if c.lookup != nil {
		if addr, ok := c.lookup(c.leader); ok {
			return addr, nil
		}
	}
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
// is reused by the next exchange.
func (c *replicaConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	body, err := c.exchange(req, 1<<20)
	if err != nil {
		return err
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}

// exchange writes req and reads its answer's frame into the connection's
// frame buffer; body aliases it until the next exchange.
func (c *replicaConn) exchange(req kmsg.Request, maxFrame int) (body []byte, err error) {
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
	fail := func(err error) ([]byte, error) {
		c.close()
		return nil, err
	}
	if _, err := c.conn.Write(w); err != nil {
		return fail(err)
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		return fail(err)
	}
	n := int(int32(binary.BigEndian.Uint32(sz[:])))
	if n < 4 || n > maxFrame {
		return fail(fmt.Errorf("cluster: leader answered a %d-byte frame (bound %d)", n, maxFrame))
	}
	switch {
	case cap(c.frame) < n:
		c.frame = make([]byte, (n+frameGrain-1)/frameGrain*frameGrain)
		c.small = 0
	case n < cap(c.frame)/4 && cap(c.frame) > frameGrain:
		if c.small++; c.small >= frameShrinkAfter {
			c.frame = make([]byte, (n+frameGrain-1)/frameGrain*frameGrain)
			c.small = 0
		}
	default:
		c.small = 0
	}
	frame := c.frame[:n]
	if _, err := io.ReadFull(c.r, frame); err != nil {
		return fail(err)
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != c.corr {
		return fail(fmt.Errorf("cluster: response correlation id %d, want %d", got, c.corr))
	}
	body = frame[4:]
	if req.IsFlexible() {
		if body, err = skipTags(body); err != nil {
			return fail(err)
		}
	}
	return body, nil
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

// request sends req on the connection and decodes its answer into resp
// (the divergence checks: OffsetForLeaderEpoch goes to the leader on the
// connection the fetches use, with no client metadata in the way).
func (c *replicaConn) request(ctx context.Context, req kmsg.Request, resp kmsg.Response) error {
	body, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		c.close()
		return err
	}
	return nil
}

// fetch sends a replica fetch and decodes the answer into the reused
// response. Its record batches alias the connection's frame buffer:
// they must be appended before the next request.
func (c *replicaConn) fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	body, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	c.resp.Version = req.Version
	if err := c.resp.ReadFrom(body); err != nil {
		c.close()
		return nil, err
	}
	return &c.resp, nil
}

// send dials if needed and exchanges req for its response body under
// ctx's deadline.
func (c *replicaConn) send(ctx context.Context, req kmsg.Request) ([]byte, error) {
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	stop := c.deadline(ctx)
	defer stop()
	body, err := c.exchange(req, replicaFrameMax)
	if err != nil && ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return body, err
}
