package hooks_test

import (
	"reflect"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
)

// TestRecordsPassWithoutConversion: what plugins see and return is what
// the batch codec decodes and encodes: a transform's output goes to
// records.Encode as is, and a decoded batch goes to a filter as is.
func TestRecordsPassWithoutConversion(t *testing.T) {
	out := []hooks.Record{
		{Key: []byte("k"), Value: []byte("v"), Timestamp: 1700000000000, Offset: -1,
			Headers: []hooks.Header{{Key: "h", Value: []byte("x")}, {Key: "null"}}},
		{Key: nil, Value: nil, Timestamp: 1700000000001, Offset: -1},
	}
	batch, err := records.Encode(out, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := records.Decode(batch)
	if err != nil {
		t.Fatal(err)
	}
	var in []hooks.Record = decoded.Records
	for i := range out {
		out[i].Offset = int64(i) // Decode gives offsets, Encode ignored -1
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("decoded %+v, want %+v", in, out)
	}
}
