package bridge

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
)

// trackerJS is the first-party tracker served at /sluice.js
// (docs/tracker.md).
//
//go:embed tracker/sluice.js
var trackerJS []byte

// HeaderEventID is the record header carrying a collected event's client
// event id.
const HeaderEventID = "sluice.event_id"

// maxEventIDLen bounds client event ids (the tracker sends 32 hex digits).
const maxEventIDLen = 64

func (b *Bridge) serveTracker(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Length", strconv.Itoa(len(trackerJS)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(trackerJS)
	}
}

// collectResult is the answer to a collect request: events stored now,
// and events dropped as repeats of ones stored before (retries).
type collectResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// Dropped counts events the topic's transform dropped (acknowledged,
	// remembered as stored, not counted in Accepted); absent when 0.
	Dropped int `json:"dropped,omitempty"`
}

// collect serves POST /collect/{topic}: a batch of tracker events
// ({"events":[{…,"eid":"…"}]} or a JSON array), sent as text/plain so a
// cross-origin page needs no preflight. Each event becomes one record
// (keyed by its session id "sid" when given, so a session stays in order)
// unless its event id was stored within the dedupe window: the tracker
// resends what it could not confirm, and this makes those retries
// harmless. It answers 200 with collectResult once the new events are
// acknowledged by the broker.
func (b *Bridge) collect(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if _, err := b.auth.authorizeAnonymous(r, topic); err != nil {
		writeError(w, err)
		return
	}
	if mt := mediaType(r); mt != "text/plain" && mt != contentTypeJSON && mt != "" {
		writeError(w, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Send the events as text/plain or application/json."))
		return
	}
	body, err := readBody(w, r, b.cfg.MaxBeaconBytes, time.Duration(b.cfg.ReadTimeout))
	if err != nil {
		writeError(w, err)
		return
	}
	events, err := parseEvents(body)
	if err != nil {
		writeError(w, err)
		return
	}
	var recs []outRecord
	var keys []string
	res := collectResult{}
	seenInBatch := map[string]bool{}
	for _, ev := range events {
		key := topic + "\x00" + ev.id
		if seenInBatch[key] {
			res.Duplicates++
			continue
		}
		seenInBatch[key] = true
		switch b.dedupe.reserve(key, time.Now()) {
		case dedupeStored:
			res.Duplicates++
			continue
		case dedupeInFlight:
			// Another request is storing this event right now; if it
			// fails, this copy must not have been dropped: ask to retry.
			b.dedupe.release(keys)
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeKafkaRetriable,
				Message: "Event " + ev.id + " is being stored by another request; retry.", RetryAfter: time.Second})
			return
		}
		keys = append(keys, key)
		hs := append(b.contextHeaders(r, contentTypeJSON), hooks.Header{Key: HeaderEventID, Value: []byte(ev.id)})
		rec := outRecord{Value: ev.raw, Partition: -1, Headers: hs}
		if ev.sid != "" {
			rec.Key = []byte(ev.sid)
		}
		recs = append(recs, rec)
	}
	if len(recs) > 0 {
		results, err := b.prod.produce(r.Context(), topic, recs)
		if err == nil {
			err = overloadError(results)
		}
		if err != nil {
			b.dedupe.release(keys)
			writeError(w, anonymousError(err))
			return
		}
		var failed error
		for i, pr := range results {
			if pr.Err != nil {
				b.dedupe.release(keys[i : i+1])
				failed = pr.Err
				continue
			}
			b.dedupe.stored(keys[i])
			if pr.Records == 0 {
				res.Dropped++
			} else {
				res.Accepted++
			}
		}
		if failed != nil {
			// Some were stored (and are remembered), some not: the tracker
			// resends the batch and the stored ones are dropped as repeats.
			writeError(w, anonymousError(failed))
			return
		}
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, res)
}

type collectedEvent struct {
	id, sid string
	raw     []byte
}

// parseEvents reads {"events":[…]} or […]: objects, each with a string
// "eid".
func parseEvents(body []byte) ([]collectedEvent, error) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, unprocessable("Body is not a JSON array of events.")
		}
	} else {
		var env struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, unprocessable("Body is not {\"events\":[…]}.")
		}
		raws = env.Events
	}
	if len(raws) == 0 {
		return nil, unprocessable("Request has no events.")
	}
	out := make([]collectedEvent, 0, len(raws))
	for i, raw := range raws {
		var ids struct {
			EID string `json:"eid"`
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(raw, &ids); err != nil || ids.EID == "" || len(ids.EID) > maxEventIDLen {
			return nil, unprocessable("Event %d is not an object with a string \"eid\" of 1 to %d characters.", i, maxEventIDLen)
		}
		out = append(out, collectedEvent{id: ids.EID, sid: ids.SID, raw: bytes.Clone(raw)})
	}
	return out, nil
}

// dedupeState of an event id.
type dedupeState uint8

const (
	dedupeNew dedupeState = iota
	dedupeInFlight
	dedupeStored
)

// dedupeSet remembers event ids stored within the window, in two
// generations: an id is remembered at least window and at most twice that.
// It holds at most maxEntries ids per generation; past that the generation
// turns over early (the window shrinks rather than memory growing). It is
// per bridge process: a restart forgets it.
type dedupeSet struct {
	window     time.Duration
	maxEntries int

	mu        sync.Mutex
	cur, prev map[string]dedupeState
	curStart  time.Time
}

func newDedupeSet(window time.Duration, maxEntries int) *dedupeSet {
	return &dedupeSet{window: window, maxEntries: maxEntries, cur: map[string]dedupeState{}, prev: map[string]dedupeState{}}
}

func (d *dedupeSet) turn(now time.Time) {
	if d.curStart.IsZero() {
		d.curStart = now
	}
	if now.Sub(d.curStart) >= d.window || len(d.cur) >= d.maxEntries {
		d.prev, d.cur, d.curStart = d.cur, make(map[string]dedupeState, len(d.cur)), now
	}
}

// reserve marks key in flight when it is new, and reports its state
// before.
func (d *dedupeSet) reserve(key string, now time.Time) dedupeState {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.turn(now)
	if s, ok := d.cur[key]; ok {
		return s
	}
	if s, ok := d.prev[key]; ok {
		return s
	}
	d.cur[key] = dedupeInFlight
	return dedupeNew
}

func (d *dedupeSet) stored(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cur[key] = dedupeStored
	delete(d.prev, key)
}

func (d *dedupeSet) release(keys []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if d.cur[k] == dedupeInFlight {
			delete(d.cur, k)
		}
	}
}
