package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// header is a decoded request header.
type header struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
}

// Typed decoding errors: the connection is closed with a log line.
var (
	errUnknownAPI = errors.New("unknown API key")
	errMalformed  = errors.New("malformed request")
)

// unsupportedVersionError is a known API at a version we don't serve.
type unsupportedVersionError struct{ key, version int16 }

func (e *unsupportedVersionError) Error() string {
	return fmt.Sprintf("unsupported version %d of %s", e.version, kmsg.NameForKey(e.key))
}

// parseRequest decodes a request frame (without its size prefix). For an
// ApiVersions request at an unknown version it returns the header and an
// *unsupportedVersionError so the caller can answer with v0 as Kafka does.
func parseRequest(frame []byte) (*header, kmsg.Request, error) {
	return parseRequestWithin(frame, DefaultMaxDecodedRequestBytes)
}

// parseRequestWithin is parseRequest refusing (before decoding) a request
// whose decoded form would take more than budget bytes (boundRequest).
func parseRequestWithin(frame []byte, budget int64) (*header, kmsg.Request, error) {
	r := kbin.Reader{Src: frame}
	h := &header{key: r.Int16(), version: r.Int16(), correlationID: r.Int32()}
	// ControlledShutdown v0's header has no client id (Kafka's one
	// exception, 07_controlled_shutdown.go).
	if h.key != 7 || h.version != 0 {
		if cid := r.NullableString(); cid != nil {
			h.clientID = *cid
		}
	}
	if !r.Ok() {
		return nil, nil, errMalformed
	}
	a, ok := apis[h.key]
	if !ok {
		return h, nil, fmt.Errorf("%w %d", errUnknownAPI, h.key)
	}
	if h.version < a.min || h.version > a.max {
		return h, nil, &unsupportedVersionError{key: h.key, version: h.version}
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		// Request header v2: skip tagged fields.
		n := r.Uvarint()
		for i := uint32(0); i < n && r.Ok(); i++ {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return h, nil, errMalformed
		}
	}
	if _, err := boundRequest(h.key, h.version, r.Src, budget); err != nil {
		return h, nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(h.key), h.version, err)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d: %v", errMalformed, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, nil
}

// appendResponse encodes a whole response frame: size, correlation id,
// header tags for flexible responses (never for ApiVersions, whose
// response header is always v0 so that any client can read it), body.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if resp.IsFlexible() && resp.Key() != 18 {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	size := uint32(len(dst) - start - 4)
	dst[start], dst[start+1], dst[start+2], dst[start+3] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	return dst
}
