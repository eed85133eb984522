// Command pageview-partitioner is a Sluice partitioner plugin: it sends
// every page-view event of a user to the same partition by hashing the
// value of the event's top-level JSON field "user_id" (fnv1a32 of the
// string, or of the JSON text for other types, so 42 and "42" agree only
// by accident). Records without one fall back to their key, then to
// partition 0. Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o pageview-partitioner.wasm .
//
// Configuration: field (default "user_id") names the JSON field.
package main

import (
	"encoding/json"

	"github.com/sluicemq/sluice/sdk"
)

func init() {
	field := sdk.ConfigOr("field", "user_id")
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		return partitionFor(r, field, partitions)
	})
}

func partitionFor(r sdk.Record, field string, partitions int) int {
	id := fieldValue(r.Value, field)
	if id == nil {
		id = r.Key
	}
	if id == nil {
		return 0
	}
	return int(fnv1a(id) % uint32(partitions))
}

func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// fieldValue returns the value of a top-level field of a JSON object
// (a string's contents, other values' JSON text), or nil when the value
// is not an object, lacks the field or the field is null. It scans the
// bytes instead of decoding the whole event: partitioning runs on every
// record.
func fieldValue(v []byte, field string) []byte {
	s := scanner{b: v}
	if s.skipSpace(); !s.consume('{') {
		return nil
	}
	for {
		if s.skipSpace(); s.consume('}') {
			return nil
		}
		key, ok := s.str()
		if s.skipSpace(); !ok || !s.consume(':') {
			return nil
		}
		s.skipSpace()
		start := s.i
		if !s.value() {
			return nil
		}
		if string(unquote(key)) == field {
			raw := v[start:s.i]
			switch {
			case string(raw) == "null":
				return nil
			case raw[0] == '"':
				return unquote(raw)
			}
			return raw
		}
		if s.skipSpace(); !s.consume(',') {
			return nil
		}
	}
}

// unquote returns a JSON string's contents (decoding escapes only when
// there are any).
func unquote(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if json.Unmarshal(quoted, &s) != nil {
				return inner
			}
			return []byte(s)
		}
	}
	return inner
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str scans a string and returns it with its quotes.
func (s *scanner) str() ([]byte, bool) {
	start := s.i
	if !s.consume('"') {
		return nil, false
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start:s.i], true
		default:
			s.i++
		}
	}
	return nil, false
}

// value skips one JSON value.
func (s *scanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return true
			}
		}
		return false
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' && s.b[s.i] != ']' &&
			s.b[s.i] != ' ' && s.b[s.i] != '\t' && s.b[s.i] != '\n' && s.b[s.i] != '\r' {
			s.i++
		}
		return s.i > start
	}
}

func main() {}
