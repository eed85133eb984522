package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/pipeline"
)

// Header keys the bridge adds to beacon and pixel records.
const (
	HeaderReceivedAt  = "sluice.received_at" // RFC 3339, UTC, millisecond precision
	HeaderUserAgent   = "sluice.user_agent"
	HeaderOrigin      = "sluice.origin"
	HeaderReferer     = "sluice.referer"
	HeaderClientIP    = "sluice.client_ip" // the IP, or its salted hash when hashing is on
	HeaderContentType = "content-type"     // of the value: application/json or text/plain
)

// transparentGIF is a 1×1 transparent GIF89a.
var transparentGIF = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

// beacon serves POST /beacon/{topic}: what navigator.sendBeacon sends with
// no CORS preflight (text/plain holding JSON or text, or a urlencoded form),
// plus application/json for other clients. Answers 204 once the broker
// acknowledged the record (acks=all; fsynced first in the broker's
// --durability fsync mode, the single-node default).
func (b *Bridge) beacon(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if topic == "" { // served by the fast path (beacon_fast.go), not chi
		topic, _ = beaconTopic(r)
	}
	if _, err := b.auth.authorizeAnonymous(r, topic); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r, b.cfg.MaxBeaconBytes, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		writeError(w, err)
		return
	}
	var value []byte
	valueType := contentTypeJSON
	switch mt := mediaType(r); mt {
	case "text/plain", "":
		trimmed := bytes.TrimSpace(body)
		if json.Valid(trimmed) && len(trimmed) > 0 {
			value = trimmed
		} else {
			value, valueType = body, "text/plain"
		}
	case contentTypeJSON:
		if !json.Valid(body) {
			writeError(w, unprocessable("Body is not valid JSON."))
			return
		}
		value = bytes.TrimSpace(body)
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeError(w, unprocessable("Malformed form body: %v", err))
			return
		}
		value = valuesJSON(form)
	default:
		writeError(w, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			fmt.Sprintf("Content-Type %q is not supported; send text/plain, application/json or application/x-www-form-urlencoded.", mt)))
		return
	}
	if len(value) == 0 {
		writeError(w, unprocessable("Beacon body is empty."))
		return
	}
	n, err := b.publishOne(r, topic, value, valueType)
	if err != nil {
		writeError(w, anonymousError(err))
		return
	}
	storedHeaders(w, n)
	w.WriteHeader(http.StatusNoContent)
}

// pixel serves GET /pixel/{topic}.gif: the query string becomes a JSON
// object record and the answer is an uncacheable 1×1 GIF.
func (b *Bridge) pixel(w http.ResponseWriter, r *http.Request) {
	topic, ok := strings.CutSuffix(chi.URLParam(r, "file"), ".gif")
	if !ok || topic == "" {
		writeError(w, errf(http.StatusNotFound, codeNotFound, "Pixel URLs end in /pixel/{topic}.gif."))
		return
	}
	if _, err := b.auth.authorizeAnonymous(r, topic); err != nil {
		writeError(w, err)
		return
	}
	if int64(len(r.URL.RawQuery)) > b.cfg.MaxBeaconBytes {
		writeError(w, tooLarge(b.cfg.MaxBeaconBytes))
		return
	}
	q := r.URL.Query()
	q.Del("access_token") // a credential is not data
	n, err := b.publishOne(r, topic, valuesJSON(q), contentTypeJSON)
	if err != nil {
		writeError(w, anonymousError(err))
		return
	}
	storedHeaders(w, n)
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	w.WriteHeader(http.StatusOK)
	w.Write(transparentGIF)
}

// Headers a beacon or pixel answer carries when the topic's transform did
// not store exactly the one record sent: Sluice-Records-Stored is how
// many it stored (0: dropped; 2 or more: split), Sluice-Records-Dropped
// is 1 when it stored none.
const (
	headerRecordsStored  = "Sluice-Records-Stored"
	headerRecordsDropped = "Sluice-Records-Dropped"
)

// storedHeaders adds them; a record stored as sent (the usual case) adds
// nothing, so the beacon path stays as cheap as it was.
func storedHeaders(w http.ResponseWriter, n int) {
	if n == 1 {
		return
	}
	h := w.Header()
	h.Set(headerRecordsStored, strconv.Itoa(n))
	if n == 0 {
		h.Set(headerRecordsDropped, "1")
	} else {
		h.Set(headerRecordsDropped, "0")
	}
}

// publishOne produces one beacon-style record with the request's context
// headers, keyed by ?key= when given, and returns how many records were
// stored for it (see produceResult.Records).
func (b *Bridge) publishOne(r *http.Request, topic string, value []byte, valueType string) (int, error) {
	rec := pipeline.PublishRecord{Record: hooks.Record{Value: value, Headers: b.contextHeaders(r, valueType)}, Partition: -1}
	if r.URL.RawQuery != "" { // most beacons have no query to parse
		if k := r.URL.Query().Get("key"); k != "" {
			rec.Key = []byte(k)
		}
	}
	res, err := b.prod.publishOne(r.Context(), topic, rec)
	if err != nil {
		return 0, err
	}
	return res.Records, res.Err
}

func (b *Bridge) contextHeaders(r *http.Request, valueType string) []hooks.Header {
	ua, ip := r.UserAgent(), b.recordedIP(r)
	origin, ref := r.Header.Get("Origin"), r.Referer()
	// Every value in one buffer, sized up front so that it never moves,
	// and the headers in one slice; both in one allocation when the
	// values fit contextBuf (a browser's usual headers do).
	size := receivedAtLen + len(ua) + len(ip) + len(valueType) + len(origin) + len(ref)
	var buf []byte
	var hs []hooks.Header
	switch {
	case size <= len(smallContextBuf{}.buf):
		cb := new(smallContextBuf)
		buf, hs = cb.buf[:0:size], cb.hs[:0]
	case size <= len(contextBuf{}.buf):
		cb := new(contextBuf)
		buf, hs = cb.buf[:0:size], cb.hs[:0]
	default:
		buf, hs = make([]byte, 0, size), make([]hooks.Header, 0, 6)
	}
	add := func(key string, start int) {
		hs = append(hs, hooks.Header{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	buf = appendReceivedAt(buf, time.Now())
	add(HeaderReceivedAt, 0)
	for _, h := range [...]struct {
		key, value string
		always     bool // else only when the request has it
	}{
		{HeaderUserAgent, ua, true}, {HeaderClientIP, ip, true}, {HeaderContentType, valueType, true},
		{HeaderOrigin, origin, false}, {HeaderReferer, ref, false},
	} {
		if h.value == "" && !h.always {
			continue
		}
		start := len(buf)
		buf = append(buf, h.value...)
		add(h.key, start)
	}
	return hs
}

// contextBuf holds a beacon's context headers and their values: room
// for a browser's user agent, origin and referer (a 576-byte size
// class); smallContextBuf for clients that send few of them (352 bytes).
type contextBuf struct {
	hs  [6]hooks.Header
	buf [320]byte
}

type smallContextBuf struct {
	hs  [6]hooks.Header
	buf [96]byte
}

// receivedAtLen is the length of a HeaderReceivedAt value.
const receivedAtLen = len("2006-01-02T15:04:05.000Z")

// appendReceivedAt appends t in UTC as RFC 3339 with milliseconds
// ("2006-01-02T15:04:05.000Z", what time.Format gives for that layout)
// without the general formatter's layout parsing.
func appendReceivedAt(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends v (non-negative) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// valuesJSON renders form or query values as a JSON object: a name given
// once maps to a string, a repeated name to an array of strings.
func valuesJSON(v url.Values) []byte {
	obj := make(map[string]any, len(v))
	for k, vs := range v {
		if len(vs) == 1 {
			obj[k] = vs[0]
		} else {
			obj[k] = vs
		}
	}
	out, _ := json.Marshal(obj) // strings and string slices always encode
	return out
}
