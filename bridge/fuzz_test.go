package bridge

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// Fuzz targets of the bridge's parsers. `go test` runs their seeds (f.Add
// and testdata/fuzz/<Name>) as unit tests; `make fuzz` explores.

func FuzzDecodeV2Records(f *testing.F) {
	f.Add([]byte(`{"records":[{"key":"a","value":{"n":1},"partition":0,"headers":[{"key":"h","value":"dg=="}]}]}`), false)
	f.Add([]byte(`{"records":[{"key":"YQ==","value":"Yg=="},{"value":null}]}`), true)
	f.Add([]byte(`{"records":[{"partition":-1}]}`), false)
	f.Add([]byte(`{"records":[]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		recs, err := decodeV2Records(body, binary)
		if err != nil {
			if recs != nil {
				t.Fatal("records with an error")
			}
			return
		}
		if len(recs) == 0 || len(recs) > len(body) {
			t.Fatalf("%d records from %d bytes", len(recs), len(body))
		}
		for _, r := range recs {
			if r.Partition < -1 {
				t.Fatalf("partition %d", r.Partition)
			}
			if !binary && r.Value != nil && !json.Valid(r.Value) {
				t.Fatalf("json value %q is not JSON", r.Value)
			}
			for _, h := range r.Headers {
				if h.Key == "" {
					t.Fatal("empty header key")
				}
			}
		}
	})
}

func FuzzArrayRecords(f *testing.F) {
	f.Add([]byte(`[{"a":1},"x",2,null]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := arrayRecords(body)
		if err != nil {
			return
		}
		if len(recs) == 0 {
			t.Fatal("no records without an error")
		}
		for _, r := range recs {
			if !json.Valid(r.Value) || r.Partition != -1 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n  \"x\"  \n2"))
	f.Add([]byte("{\"a\":\n1}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ndjsonRecords(body)
		if err != nil {
			return
		}
		if len(recs) == 0 || len(recs) > bytes.Count(body, []byte{'\n'})+1 {
			t.Fatalf("%d records from %d lines", len(recs), bytes.Count(body, []byte{'\n'})+1)
		}
		for _, r := range recs {
			if !json.Valid(r.Value) || bytes.IndexByte(r.Value, '\n') >= 0 {
				t.Fatalf("record value %q", r.Value)
			}
		}
	})
}

func FuzzParseBulk(f *testing.F) {
	f.Add([]byte("{\"index\":{\"_index\":\"logs\"}}\n{\"msg\":\"a\"}\n{\"create\":{}}\n{\"msg\":\"b\"}\n{\"delete\":{\"_id\":\"1\"}}\n{\"update\":{}}\n{\"doc\":{}}\n"), "dflt")
	f.Add([]byte("{\"index\":{}}\n"), "")
	f.Add([]byte("{\"frob\":{}}\n{}\n"), "x")
	f.Fuzz(func(t *testing.T, body []byte, index string) {
		ops, err := parseBulk(body, index)
		if err != nil {
			return
		}
		if len(ops) == 0 {
			t.Fatal("no operations without an error")
		}
		for _, op := range ops {
			switch op.verb {
			case "index", "create":
				if op.item.Status == 0 && (op.doc == nil || op.item.Index == "") {
					t.Fatalf("accepted %s without a document or index: %+v", op.verb, op)
				}
			case "update", "delete":
				if op.item.Status == 0 {
					t.Fatalf("%s accepted", op.verb)
				}
			default:
				t.Fatalf("verb %q", op.verb)
			}
		}
	})
}

func FuzzParsePositions(f *testing.F) {
	f.Add("0:0,1:17")
	f.Add("3:9223372036854775807")
	f.Add("0:1,0:2")
	f.Add("-1:0")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		ps, err := parsePositions(id)
		if err != nil {
			return
		}
		if len(ps) > strings.Count(id, ",")+1 || len(ps) > maxEventIDPartitions {
			t.Fatalf("%d positions from %q", len(ps), id)
		}
		for p, o := range ps {
			if p < 0 || o < 0 {
				t.Fatalf("negative position %d:%d from %q", p, o, id)
			}
		}
		// What the bridge writes it reads back exactly.
		again, err := parsePositions(ps.String())
		if err != nil || !maps.Equal(again, ps) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", id, ps, ps.String(), again, err)
		}
	})
}
