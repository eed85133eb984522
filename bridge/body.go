package bridge

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// readBody reads the request body, decoding Content-Encoding (gzip, zstd)
// and bounding both the encoded and decoded size by limit. It also applies
// the read timeout, so a client trickling a body (slowloris on the body)
// is answered 408 instead of holding a goroutine forever.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, readTimeout time.Duration) ([]byte, error) {
	if readTimeout > 0 && !serverBoundsRead(r, readTimeout) {
		// Not every ResponseWriter supports deadlines (e.g. in-memory
		// recorders); the server-level timeouts still apply then.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
	}
	encoding := r.Header.Get("Content-Encoding")
	if encoding == "" && r.ContentLength >= 0 {
		// A plain body of declared length (every beacon): the server's
		// body reader already stops at Content-Length, so the limit is
		// checked up front and the body read straight into one buffer,
		// without the MaxBytesReader and LimitReader wrappers.
		if r.ContentLength > limit {
			return nil, tooLarge(limit)
		}
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, classifyReadErr(err, limit, "body")
		}
		return body, nil
	}
	raw := http.MaxBytesReader(w, r.Body, limit)
	var src io.Reader = raw
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, classifyReadErr(err, limit, "gzip")
		}
		defer zr.Close()
		src = zr
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1<<20))
		if err != nil {
			return nil, classifyReadErr(err, limit, "zstd")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			fmt.Sprintf("Content-Encoding %q is not supported (use gzip or zstd).", enc))
	}
	// Sized by Content-Length when the body is not encoded (a beacon's
	// ~100 bytes take one allocation, not a growing buffer's several).
	size := int64(512)
	if src == raw && r.ContentLength >= 0 && r.ContentLength <= limit {
		size = r.ContentLength + 1 // the +1 sees EOF without growing
	}
	// Read one byte past the limit to tell "exactly limit" from "more".
	body, err := readAll(io.LimitReader(src, limit+1), make([]byte, 0, size))
	if err != nil {
		return nil, classifyReadErr(err, limit, "body")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

// serverBoundsRead reports whether the server serving r already bounds
// the whole request's read by a ReadTimeout no longer than d (the
// bridge's own server, see ConfigureServer): setting the deadline again
// per request would only cost a timer update.
func serverBoundsRead(r *http.Request, d time.Duration) bool {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return srv != nil && srv.ReadTimeout > 0 && srv.ReadTimeout <= d
}

// readAll reads src to EOF into buf's spare capacity, growing it only
// when full.
func readAll(src io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func tooLarge(limit int64) *apiError {
	return errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
		fmt.Sprintf("Request body exceeds the limit of %d bytes.", limit))
}

func classifyReadErr(err error, limit int64, what string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe),
		// A zstd frame declaring a window or content size past the
		// decoder's memory bound is a body too large once decoded.
		errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return tooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errf(http.StatusRequestTimeout, codeRequestTimeout, "Timed out reading the request body.")
	default:
		return errf(http.StatusBadRequest, codeUnprocessable, fmt.Sprintf("Cannot read %s: %v", what, err))
	}
}

// mediaType is the Content-Type without parameters, lower-cased.
func mediaType(r *http.Request) string {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}
