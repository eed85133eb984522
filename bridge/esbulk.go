package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

// The Elasticsearch bulk API, so log shippers with an Elasticsearch output
// (rsyslog omelasticsearch, Fluent Bit, Vector, Filebeat) publish unchanged:
// the index names the topic and each source document becomes one record.

// esAction is a bulk action line's metadata.
type esAction struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// esItem is one entry of the bulk response.
type esItem struct {
	Index       string   `json:"_index"`
	ID          string   `json:"_id"`
	Version     int      `json:"_version,omitempty"`
	Result      string   `json:"result,omitempty"`
	Shards      *esShard `json:"_shards,omitempty"`
	SeqNo       *int64   `json:"_seq_no,omitempty"`
	PrimaryTerm int      `json:"_primary_term,omitempty"`
	Status      int      `json:"status"`
	Error       *esError `json:"error,omitempty"`
}

type esShard struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type esError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// bulkOp is a parsed action with its document, and where its answer goes.
type bulkOp struct {
	verb   string // index or create
	action esAction
	doc    []byte
	item   esItem
}

func (b *Bridge) esInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	writeJSON(w, http.StatusOK, contentTypeJSON, map[string]any{
		"name":         "sluice",
		"cluster_name": "sluice",
		"version": map[string]string{
			"number":                              "7.10.2",
			"build_flavor":                        "oss",
			"minimum_wire_compatibility_version":  "6.8.0",
			"minimum_index_compatibility_version": "6.0.0-beta1",
		},
		"tagline": "You Know, for Search",
	})
}

// esHealth serves GET /_cat/health: rsyslog's omelasticsearch probes it
// before resuming a suspended action.
func (b *Bridge) esHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	now := time.Now()
	fmt.Fprintf(w, "%d %s sluice green 1 1 0 0 0 0 0 0 - 100.0%%\n", now.Unix(), now.UTC().Format("15:04:05"))
}

// esBulk serves POST /_bulk and /{index}/_bulk.
//
// Everything known before writing fails the whole request, so a shipper
// that checks only the HTTP status (syslog-ng elasticsearch-http(), most
// http outputs) sees it, and resending the batch cannot duplicate part of
// it: bad or missing credentials (401, for every way of sending them), a
// principal without Write on a target topic (403), a target topic that
// does not exist (404 index_not_found_exception), malformed action lines
// (400). Only per-document problems (invalid JSON, update/delete) and
// produce failures are item-level, as in Elasticsearch.
func (b *Bridge) esBulk(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if _, err := b.auth.identify(r); err != nil {
		writeESAPIError(w, err)
		return
	}
	body, err := readBody(w, r, b.cfg.MaxBodyBytes, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		ae := toAPIError(err)
		writeESError(w, ae.Status, "parse_exception", ae.Message)
		return
	}
	ops, err := parseBulk(body, chi.URLParam(r, "index"))
	if err != nil {
		writeESError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	// Produce per topic, in request order within each topic.
	byTopic := map[string][]*bulkOp{}
	var topics []string
	for _, op := range ops {
		if op.item.Status != 0 {
			continue // already failed while parsing
		}
		t := op.action.Index
		if _, ok := byTopic[t]; !ok {
			topics = append(topics, t)
		}
		byTopic[t] = append(byTopic[t], op)
	}
	for _, t := range topics {
		if _, err := b.auth.authorize(r, t, opProduce); err != nil {
			writeESAPIError(w, err)
			return
		}
	}
	for _, t := range topics {
		if _, err := b.prod.topics.partitions(r.Context(), t); err != nil {
			if errors.Is(err, ErrTopicNotFound) {
				err = errf(http.StatusNotFound, codeTopicNotFound, "no such index ["+t+"]: topic "+t+" does not exist (the bridge does not create topics)")
			}
			writeESAPIError(w, err)
			return
		}
	}
	for _, t := range topics {
		tops := byTopic[t]
		recs := make([]outRecord, len(tops))
		for i, op := range tops {
			recs[i] = outRecord{Value: op.doc, Partition: -1}
			if op.action.ID != "" {
				recs[i].Key = []byte(op.action.ID)
			}
		}
		results, err := b.prod.produce(r.Context(), t, recs)
		for i, op := range tops {
			e := err
			if e == nil {
				e = results[i].Err
			}
			if e == nil {
				op.succeed(results[i])
			} else {
				op.fail(e)
			}
		}
	}
	items := make([]map[string]esItem, len(ops))
	failed, allRetriable := false, true
	for i, op := range ops {
		items[i] = map[string]esItem{op.verb: op.item}
		failed = failed || op.item.Error != nil
		allRetriable = allRetriable && (op.item.Status == http.StatusTooManyRequests || op.item.Status == http.StatusServiceUnavailable)
	}
	if allRetriable {
		// Nothing was taken and all of it may be retried: answer like an
		// overloaded cluster so the shipper backs off and resends the batch.
		w.Header().Set("Retry-After", "1")
		writeESError(w, http.StatusTooManyRequests, "es_rejected_execution_exception", "Sluice is overloaded; retry the bulk request.")
		return
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, struct {
		Took   int64               `json:"took"`
		Errors bool                `json:"errors"`
		Items  []map[string]esItem `json:"items"`
	}{time.Since(start).Milliseconds(), failed, items})
}

func (op *bulkOp) succeed(res produceResult) {
	if res.Records == 0 {
		// The topic's transform dropped the document: acknowledged,
		// nothing stored, no sequence number.
		op.item.Status, op.item.Result, op.item.Version = http.StatusOK, "noop", 1
		op.item.Shards = &esShard{Total: 1, Successful: 1}
		return
	}
	off := res.Offset
	op.item.Status, op.item.Result, op.item.Version, op.item.PrimaryTerm = http.StatusCreated, "created", 1, 1
	op.item.SeqNo = &off
	op.item.Shards = &esShard{Total: 1, Successful: 1}
	if op.item.ID == "" {
		op.item.ID = strconv.Itoa(int(res.Partition)) + "-" + strconv.FormatInt(res.Offset, 10)
	}
}

func (op *bulkOp) fail(err error) {
	ae := toAPIError(err)
	typ := "kafka_exception"
	switch ae.Code {
	case codeTopicNotFound:
		typ = "index_not_found_exception"
	case codeProducerOverloaded, codeKafkaRetriable:
		typ = "es_rejected_execution_exception"
	}
	op.item.Status, op.item.Error = ae.Status, &esError{Type: typ, Reason: ae.Message}
}

// parseBulk reads action/document line pairs. index and create carry a
// document; update and delete are answered per item as unsupported (a
// stream cannot change what it already holds).
func parseBulk(body []byte, defaultIndex string) ([]*bulkOp, error) {
	var ops []*bulkOp
	next := func() ([]byte, bool) {
		for len(body) > 0 {
			var line []byte
			line, body, _ = bytes.Cut(body, []byte{'\n'})
			if line = bytes.TrimSpace(line); len(line) > 0 {
				return line, true
			}
		}
		return nil, false
	}
	for n := 1; ; n++ {
		line, ok := next()
		if !ok {
			break
		}
		var action map[string]esAction
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, fmt.Errorf("malformed action/metadata line [%d]: expected one action object", n)
		}
		for verb, meta := range action {
			if meta.Index == "" {
				meta.Index = defaultIndex
			}
			op := &bulkOp{verb: verb, action: meta, item: esItem{Index: meta.Index, ID: meta.ID}}
			switch verb {
			case "index", "create":
				doc, ok := next()
				if !ok {
					return nil, fmt.Errorf("action [%s] at line [%d] has no source document", verb, n)
				}
				op.doc = bytes.Clone(doc)
				if !json.Valid(op.doc) {
					op.item.Status, op.item.Error = http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: "source is not valid JSON"}
				}
			case "update":
				next() // its partial document
				op.item.Status, op.item.Error = http.StatusBadRequest, &esError{Type: "illegal_argument_exception", Reason: "update is not supported: topics are append-only"}
			case "delete":
				op.item.Status, op.item.Error = http.StatusBadRequest, &esError{Type: "illegal_argument_exception", Reason: "delete is not supported: topics are append-only"}
			default:
				return nil, fmt.Errorf("unknown bulk action [%s] at line [%d]", verb, n)
			}
			if op.item.Status == 0 && meta.Index == "" {
				op.item.Status, op.item.Error = http.StatusBadRequest, &esError{Type: "action_request_validation_exception", Reason: "index is missing"}
			}
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("the bulk request must be terminated by a newline and hold at least one action")
	}
	return ops, nil
}

// writeESAPIError answers a request-level failure as Elasticsearch would:
// 401 with a challenge, 403 security_exception, 404 for a missing index
// (the bridge does not create topics), 429 with Retry-After when the
// broker is unavailable or overloaded, so shippers back off and resend.
func writeESAPIError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	noteErrorCode(w, ae.Code)
	typ := "security_exception"
	switch ae.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="sluice", ApiKey, Bearer`)
	case http.StatusForbidden:
	case http.StatusNotFound:
		typ = "index_not_found_exception"
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		writeESError(w, http.StatusTooManyRequests, "es_rejected_execution_exception", ae.Message)
		return
	default:
		typ = "exception"
	}
	writeESError(w, ae.Status, typ, ae.Message)
}

func writeESError(w http.ResponseWriter, status int, typ, reason string) {
	writeJSON(w, status, contentTypeJSON, map[string]any{
		"error":  map[string]any{"root_cause": []esError{{Type: typ, Reason: reason}}, "type": typ, "reason": reason},
		"status": status,
	})
}
