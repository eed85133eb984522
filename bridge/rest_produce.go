package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
)

// v2ProduceRequest is the REST Proxy v2 produce body.
type v2ProduceRequest struct {
	Records []v2Record `json:"records"`
}

// v2Record is one record of it; headers are Strimzi-style, values base64.
type v2Record struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition *int32          `json:"partition"`
	Headers   []v2Header      `json:"headers"`
}

type v2Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// v2Offset is one record's outcome in the v2 produce response.
type v2Offset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
	// Dropped: the topic's transform stored no record for this one at an
	// offset of its own (it dropped it, or merged it into an earlier
	// record); Offset is null.
	Dropped bool `json:"dropped,omitempty"`
	// Records: the transform stored this many records from Offset on (it
	// split this record, or added records after the last of a batch);
	// absent when it is 1.
	Records int `json:"records,omitempty"`
}

type v2ProduceResponse struct {
	Offsets       []v2Offset `json:"offsets"`
	KeySchemaID   *int       `json:"key_schema_id"`
	ValueSchemaID *int       `json:"value_schema_id"`
}

// produceV2 serves POST /topics/{topic} and /topics/{topic}/partitions/{p}.
// A plain application/json body that is an array is the log-shipper form:
// one record per element.
func (b *Bridge) produceV2(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if _, err := b.auth.authorize(r, topic, opProduce); err != nil {
		writeError(w, err)
		return
	}
	forced := int32(-1)
	if ps := chi.URLParam(r, "partition"); ps != "" {
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil || p < 0 {
			writeError(w, errf(http.StatusNotFound, codePartitionNotFound, "Partition not found."))
			return
		}
		forced = int32(p)
	}
	mt := mediaType(r)
	switch mt {
	case contentTypeJSONV2, contentTypeBinaryV2, contentTypeJSON:
	default:
		writeError(w, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			fmt.Sprintf("Content-Type %q is not supported; use %s, %s or %s.", mt, contentTypeJSONV2, contentTypeBinaryV2, contentTypeJSON)))
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
		recs, err = decodeV2Records(body, mt == contentTypeBinaryV2)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if forced >= 0 {
		for i := range recs {
			recs[i].Partition = forced
		}
	}
	b.publish(w, r, topic, recs)
}

// publish produces recs and answers the v2 produce response: per-record
// partition/offset or error_code (1 permanent, 2 retriable), and what the
// topic's transform did (dropped, records). When every record failed
// retriably the whole request gets 429/503 with Retry-After; when every
// record failed because of the topic's plugin, 422 or 502 (pluginAPIError).
func (b *Bridge) publish(w http.ResponseWriter, r *http.Request, topic string, recs []outRecord) {
	results, err := b.prod.produce(r.Context(), topic, recs)
	if err == nil {
		err = overloadError(results)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	resp := v2ProduceResponse{Offsets: make([]v2Offset, len(results))}
	for i, res := range results {
		switch {
		case res.Err != nil:
			code, msg := 1, recordError(res.Err)
			if retriable(res.Err) {
				code = 2
			}
			resp.Offsets[i] = v2Offset{ErrorCode: &code, Error: &msg}
		case res.Records == 0:
			resp.Offsets[i] = v2Offset{Partition: &res.Partition, Dropped: true}
		case res.Records > 1:
			resp.Offsets[i] = v2Offset{Partition: &res.Partition, Offset: &res.Offset, Records: res.Records}
		default:
			resp.Offsets[i] = v2Offset{Partition: &res.Partition, Offset: &res.Offset}
		}
	}
	writeJSON(w, http.StatusOK, contentTypeV2JSON, resp)
}

func unprocessable(format string, args ...any) *apiError {
	return errf(http.StatusUnprocessableEntity, codeUnprocessable, fmt.Sprintf(format, args...))
}

// decodeV2Records parses a v2 body. JSON format stores key and value as
// their JSON text; binary format base64-decodes them. JSON null is "no
// key" / a tombstone value.
func decodeV2Records(body []byte, binary bool) ([]outRecord, error) {
	var req v2ProduceRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, unprocessable("Malformed request body: %v", err)
	}
	if len(req.Records) == 0 {
		return nil, unprocessable("Request has no records.")
	}
	out := make([]outRecord, len(req.Records))
	for i, rec := range req.Records {
		key, err := embedded(rec.Key, binary)
		if err != nil {
			return nil, unprocessable("records[%d].key: %v", i, err)
		}
		value, err := embedded(rec.Value, binary)
		if err != nil {
			return nil, unprocessable("records[%d].value: %v", i, err)
		}
		o := outRecord{Key: key, Value: value, Partition: -1}
		if rec.Partition != nil {
			if *rec.Partition < 0 {
				return nil, unprocessable("records[%d].partition: must be >= 0", i)
			}
			o.Partition = *rec.Partition
		}
		for j, h := range rec.Headers {
			if h.Key == "" {
				return nil, unprocessable("records[%d].headers[%d]: empty key", i, j)
			}
			v, err := base64.StdEncoding.DecodeString(h.Value)
			if err != nil {
				return nil, unprocessable("records[%d].headers[%d].value: not base64: %v", i, j, err)
			}
			o.Headers = append(o.Headers, hooks.Header{Key: h.Key, Value: v})
		}
		out[i] = o
	}
	return out, nil
}

func embedded(raw json.RawMessage, binary bool) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if !binary {
		return bytes.Clone(raw), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("binary format needs a base64 string")
	}
	return base64.StdEncoding.DecodeString(s)
}

// arrayRecords is the log-shipper form: each array element is one record
// value (its JSON text), unkeyed.
func arrayRecords(body []byte) ([]outRecord, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, unprocessable("Malformed JSON array: %v", err)
	}
	if len(elems) == 0 {
		return nil, unprocessable("Request has no records.")
	}
	out := make([]outRecord, len(elems))
	for i, e := range elems {
		out[i] = outRecord{Value: bytes.Clone(e), Partition: -1}
	}
	return out, nil
}
