package bridge

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
)

// produceRaw serves POST /topics/{topic}/lines: a text/plain body, one
// record per line, stored byte for byte (without its line ending), for
// shippers that post raw log lines and cannot produce JSON (syslog-ng
// http() with its default body, curl --data-binary @file, Vector's
// http sink with the text codec). Empty lines are skipped; each record
// carries a content-type: text/plain header.
func (b *Bridge) produceRaw(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if _, err := b.auth.authorize(r, topic, opProduce); err != nil {
		writeError(w, err)
		return
	}
	if mt := mediaType(r); mt != "text/plain" {
		writeError(w, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			fmt.Sprintf("Content-Type %q is not supported; send text/plain, one record per line (JSON lines go to /topics/{topic}/ndjson).", mt)))
		return
	}
	body, err := readBody(w, r, b.cfg.MaxBodyBytes, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		writeError(w, err)
		return
	}
	recs := rawLineRecords(body)
	if len(recs) == 0 {
		writeError(w, unprocessable("Request has no lines."))
		return
	}
	b.publish(w, r, topic, recs)
}

// rawLineRecords splits body at "\n" (a "\r" before it is part of the line
// ending too); empty lines are not records.
func rawLineRecords(body []byte) []outRecord {
	var out []outRecord
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		out = append(out, outRecord{Value: bytes.Clone(line), Partition: -1, Headers: []hooks.Header{{Key: HeaderContentType, Value: []byte("text/plain")}}})
	}
	return out
}
