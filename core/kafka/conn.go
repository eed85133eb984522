package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/storage"
)

// writeTimeout bounds writing one response to a client that stopped reading.
const writeTimeout = 2 * time.Minute

// idleTimeout closes connections idle between requests (Kafka's
// connections.max.idle.ms, 10 minutes).
const idleTimeout = 10 * time.Minute

// eagerFrameBytes: frames up to this size are allocated at once. A larger
// frame is allocated whole only once its first eagerFrameBytes have
// arrived, so a client announcing a huge request and sending nothing
// cannot make us allocate it; what may be announced at once across
// connections is bounded by queued.max.request.bytes before reading.
// (Growing the buffer as bytes arrive, as before, cleared and copied each
// large produce request about twice: ~30% of broker CPU for 100 B
// records.)
const eagerFrameBytes = 1 << 20

// frameHeads holds the eagerFrameBytes buffers large frames are first read
// into; their bytes are copied into the whole frame, so they are reused.
var frameHeads = sync.Pool{New: func() any { b := make([]byte, eagerFrameBytes); return &b }}

func readFrame(r io.Reader, size int) ([]byte, error) {
	if size <= eagerFrameBytes {
		frame := make([]byte, size)
		_, err := io.ReadFull(r, frame)
		return frame, err
	}
	head := frameHeads.Get().(*[]byte)
	defer frameHeads.Put(head)
	if _, err := io.ReadFull(r, *head); err != nil {
		return nil, err
	}
	frame := make([]byte, size)
	n := copy(frame, *head)
	_, err := io.ReadFull(r, frame[n:])
	return frame, err
}

// maxInflight bounds pipelined requests per connection awaiting their
// responses; the reader stops reading when it is reached (backpressure).
const maxInflight = 64

// reply is a response waiting for its turn on the connection. Responses
// go out in request order even when later ones are ready first.
type reply struct {
	corr int32
	resp kmsg.Response
	// chunks hold fetched segment data spliced into resp in place of
	// sentinel Records values, sent with sendfile.
	chunks []storage.Chunk
	// done, when non-nil, is closed once resp is final (long-poll fetch,
	// produce waiting for fsync).
	done chan struct{}
	// raw, when resp is nil, is a bare SASL token (v0 handshake framing).
	raw []byte
	obs requestObs // request metrics (metrics.go)
}

func (r *reply) release() {
	for i := range r.chunks {
		r.chunks[i].Release()
	}
}

// conn is one client connection: a reader goroutine that decodes and
// dispatches requests in order, and a writer goroutine that writes their
// responses in the same order.
type conn struct {
	s      *Server
	nc     net.Conn
	logger *slog.Logger
	queue  chan *reply
	// ctx is cancelled when the connection or the server closes, ending
	// long polls.
	ctx    context.Context
	cancel context.CancelFunc
	// principal is who this connection authenticated as; Anonymous until
	// (unless) it authenticates.
	principal auth.Principal
	// trusted marks an in-process connection (InProcessDialer): the
	// bridge or plugin registry of this broker, which authorize their own
	// callers. It is allowed everything and fetches unfiltered.
	trusted bool
	// sasl is the SASL progress (security.go); closeAfterReply makes the
	// reader stop once the current reply is queued (failed auth).
	sasl            saslState
	closeAfterReply bool
	// host is the client's IP (no port), computed once: ACL checks run
	// per partition.
	host string
}

// identity is the connection's principal and client host for ACL checks.
func (c *conn) identity() auth.Identity {
	return auth.Identity{Principal: c.principal, Host: c.host}
}

// authorized asks the server's authorizer whether this connection may do
// op on the named resource.
func (c *conn) authorized(op auth.Operation, rt auth.ResourceType, name string) bool {
	if c.trusted {
		return true
	}
	return c.s.cfg.Authorizer.Authorize(c.identity(), op, rt, name)
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	host := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return &conn{
		host:      host,
		s:         s,
		nc:        nc,
		logger:    s.logger.With("remote", nc.RemoteAddr().String()),
		queue:     make(chan *reply, maxInflight),
		ctx:       ctx,
		cancel:    cancel,
		principal: auth.Anonymous,
	}
}

// ready wraps an immediate response.
func (c *conn) ready(h *header, resp kmsg.Response) *reply {
	return &reply{corr: h.correlationID, resp: resp, obs: requestObs{start: time.Now(), api: h.key}} // dispatch sets obs again, from the decode
}

func (c *conn) serve() {
	if !c.startTLS() {
		c.cancel()
		c.nc.Close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.cancel()
	close(c.queue)
	<-writerDone
	c.nc.Close()
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	// held is the queued.max.request.bytes share of the request being
	// read and handled, given back once it is handled.
	var held int64
	defer func() { c.s.reqMem.release(held) }()
	for {
		c.s.reqMem.release(held)
		held = 0
		// Like Kafka's connections.max.idle.ms: a connection that sends
		// nothing for this long is closed.
		c.nc.SetReadDeadline(time.Now().Add(c.readIdle()))
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.logger.Debug("connection read failed", "err", err)
			}
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		limit := c.frameLimit()
		if (size < 8 && !c.sasl.raw) || size < 0 || size > limit {
			// Refuse before buffering: a bogus or hostile size must not
			// make us allocate.
			c.logger.Warn("closing connection: bad request size", "size", size, "max", limit)
			return
		}
		// queued.max.request.bytes: read nothing more until this
		// request fits in the memory all requests may hold.
		if !c.s.reqMem.acquire(c.ctx, int64(size)) {
			return
		}
		held = int64(size)
		frame, err := readFrame(br, int(size))
		if err != nil {
			c.logger.Debug("connection closed mid-request", "err", err)
			return
		}
		if c.sasl.raw {
			r := c.rawSASL(frame)
			if r == nil {
				return
			}
			c.queue <- r
			continue
		}
		h, req, err := parseRequestWithin(frame, c.s.cfg.MaxDecodedRequestBytes)
		if err != nil {
			var uv *unsupportedVersionError
			if errors.As(err, &uv) && h.key == 18 {
				c.queue <- c.ready(h, apiVersionsUnsupported())
				continue
			}
			attrs := []any{"err", err}
			if h != nil {
				attrs = append(attrs, "api_key", h.key, "version", h.version, "client_id", h.clientID)
			}
			c.logger.Warn("closing connection: bad request", attrs...)
			return
		}
		if !c.admit(h) {
			return
		}
		r, ok := c.dispatch(h, req)
		if !ok {
			return // the handler panicked
		}
		c.s.reqMem.release(held)
		held = 0
		if r == nil {
			continue
		}
		select {
		case c.queue <- r:
		case <-c.ctx.Done():
			// A deferred reply may still be filling its chunks:
			// release them once it is done.
			if r.done != nil {
				go func() {
					<-r.done
					r.release()
				}()
			} else {
				r.release()
			}
			return
		}
		if c.closeAfterReply {
			return
		}
	}
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	buf := make([]byte, 0, 64<<10)
	broken := false
	for r := range c.queue {
		if r.done != nil {
			<-r.done
		}
		if !broken {
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			var err error
			buf, err = c.writeReply(bw, buf[:0], r)
			if err == nil && len(c.queue) == 0 {
				err = bw.Flush()
			}
			if err != nil {
				c.logger.Debug("connection write failed", "err", err)
				broken = true
				c.nc.Close() // unblocks the reader
			}
		}
		c.observe(r.obs, r)
		r.release()
	}
	if !broken {
		bw.Flush()
	}
}

// writeReply encodes r and writes it; fetched data goes by sendfile.
func (c *conn) writeReply(bw *bufio.Writer, buf []byte, r *reply) ([]byte, error) {
	if r.resp == nil {
		buf = appendRawToken(buf, r.raw)
		_, err := bw.Write(buf)
		return buf, err
	}
	buf = appendResponse(buf, r.corr, r.resp)
	if len(r.chunks) == 0 {
		_, err := bw.Write(buf)
		return buf, err
	}
	return buf, c.writeSpliced(bw, buf, r)
}
