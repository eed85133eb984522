package kafka

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"syscall"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/sluicemq/sluice/core/storage"
)

// Fetch responses are encoded by kmsg with a 16-byte sentinel standing in
// for each partition's records: 12 marker bytes and the chunk index. The
// writer finds the sentinels in the encoded response, rewrites the length
// prefix in front of each to the chunk's real size and sends the chunk
// from the segment file with sendfile(2), so record data never enters user
// space. The marker cannot be confused with other response bytes: every
// other field precedes or follows the sentinel at known positions, and we
// only search forward from the previous splice point.
var sentinelMarker = []byte{0xF3, 0x5C, 0x11, 0xCE, 0x7A, 0x0D, 0x5E, 0x1D, 0xF1, 0x1E, 0x5E, 0x9D}

const sentinelLen = 16

func sentinel(i int) []byte {
	b := make([]byte, sentinelLen)
	copy(b, sentinelMarker)
	binary.BigEndian.PutUint32(b[12:], uint32(i))
	return b
}

// writeSpliced writes an encoded fetch response (buf, with its size
// prefix) replacing sentinels with r.chunks.
func (c *conn) writeSpliced(bw *bufio.Writer, buf []byte, r *reply) error {
	flexible := r.resp.IsFlexible()
	type piece struct {
		bytes []byte
		chunk int // -1 for bytes
	}
	pieces := make([]piece, 0, 2*len(r.chunks)+1)
	prev, total := 4, 0
	for range r.chunks {
		at := bytes.Index(buf[prev:], sentinelMarker)
		if at < 0 {
			return fmt.Errorf("kafka: fetch sentinel missing")
		}
		s := prev + at
		idx := int(binary.BigEndian.Uint32(buf[s+12:]))
		if idx >= len(r.chunks) {
			return fmt.Errorf("kafka: bad fetch sentinel index %d", idx)
		}
		size := r.chunks[idx].Size
		var prefixStart int
		var prefix []byte
		if flexible {
			prefixStart = s - 1 // uvarint(17) is one byte
			prefix = kbin.AppendUvarint(nil, uint32(size+1))
		} else {
			prefixStart = s - 4
			prefix = kbin.AppendInt32(nil, int32(size))
		}
		pieces = append(pieces, piece{bytes: buf[prev:prefixStart], chunk: -1}, piece{bytes: prefix, chunk: -1}, piece{chunk: idx})
		total += prefixStart - prev + len(prefix) + size
		prev = s + sentinelLen
	}
	pieces = append(pieces, piece{bytes: buf[prev:], chunk: -1})
	total += len(buf) - prev

	var sizeBuf [4]byte
	binary.BigEndian.PutUint32(sizeBuf[:], uint32(total))
	if _, err := bw.Write(sizeBuf[:]); err != nil {
		return err
	}
	for _, p := range pieces {
		if p.chunk < 0 {
			if _, err := bw.Write(p.bytes); err != nil {
				return err
			}
			continue
		}
		ch := &r.chunks[p.chunk]
		if ch.Size == 0 {
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := c.sendChunk(ch); err != nil {
			return err
		}
	}
	return nil
}

// sendChunk writes a chunk with sendfile(2) at the chunk's own offset
// (never the shared file offset), falling back to a copy. TLS connections
// (*tls.Conn, not *net.TCPConn) always copy: their bytes must be encrypted
// in user space.
func (c *conn) sendChunk(ch *storage.Chunk) error {
	// Any kernel socket will do: TCP, or the Unix socket pair of an
	// in-process connection. TLS connections have no SyscallConn.
	tc, ok := c.nc.(syscall.Conn)
	if !ok || c.s.cfg.DisableSendfile {
		_, err := io.Copy(c.nc, io.NewSectionReader(ch.File, ch.Pos, int64(ch.Size)))
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	src := int(ch.File.Fd())
	off, remaining := ch.Pos, ch.Size
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for remaining > 0 {
			n, err := syscall.Sendfile(int(fd), src, &off, min(remaining, 1<<30))
			if n > 0 {
				remaining -= n
			}
			switch {
			case err == syscall.EAGAIN:
				return false // wait until the socket is writable
			case err == syscall.EINTR:
			case err != nil:
				werr = err
				return true
			case n == 0:
				werr = io.ErrUnexpectedEOF // file shorter than the chunk
				return true
			}
		}
		return true
	})
	runtime.KeepAlive(ch.File)
	if err != nil {
		return err
	}
	return werr
}
