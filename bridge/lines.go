package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// produceLines serves POST /topics/{topic}/ndjson: one record per line of
// an application/x-ndjson body (each line must be JSON), or one per element
// of an application/json array. Blank lines are skipped.
func (b *Bridge) produceLines(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if _, err := b.auth.authorize(r, topic, opProduce); err != nil {
		writeError(w, err)
		return
	}
	mt := mediaType(r)
	if mt != contentTypeNDJSON && mt != contentTypeJSON && mt != "application/jsonlines" {
		writeError(w, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			fmt.Sprintf("Content-Type %q is not supported; use %s or a JSON array as %s.", mt, contentTypeNDJSON, contentTypeJSON)))
		return
	}
	body, err := readBody(w, r, b.cfg.MaxBodyBytes, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		writeError(w, err)
		return
	}
	var recs []outRecord
	if trimmed := bytes.TrimSpace(body); mt == contentTypeJSON && len(trimmed) > 0 && trimmed[0] == '[' {
		recs, err = arrayRecords(trimmed)
	} else {
		recs, err = ndjsonRecords(body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	b.publish(w, r, topic, recs)
}

func ndjsonRecords(body []byte) ([]outRecord, error) {
	var out []outRecord
	for lineNo := 1; len(body) > 0; lineNo++ {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, unprocessable("Line %d is not valid JSON.", lineNo)
		}
		out = append(out, outRecord{Value: bytes.Clone(line), Partition: -1})
	}
	if len(out) == 0 {
		return nil, unprocessable("Request has no records.")
	}
	return out, nil
}
