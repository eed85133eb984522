package bridge

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordView is a record as the consume endpoints show it.
type recordView struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp int64             `json:"timestamp"`
	Key       any               `json:"key"`
	Value     any               `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// recordJSON renders rec. In JSON format a key or value that is JSON is
// embedded as is, other UTF-8 text as a string, anything else base64; in
// binary format key, value and headers are base64 strings.
func recordJSON(rec *kgo.Record, binary bool) []byte {
	v := recordView{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Timestamp: rec.Timestamp.UnixMilli(),
		Key:       embed(rec.Key, binary), Value: embed(rec.Value, binary),
	}
	if len(rec.Headers) > 0 {
		v.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			if binary || !utf8.Valid(h.Value) {
				v.Headers[h.Key] = base64.StdEncoding.EncodeToString(h.Value)
			} else {
				v.Headers[h.Key] = string(h.Value)
			}
		}
	}
	b, _ := json.Marshal(v) // every field encodes
	return b
}

func embed(b []byte, binary bool) any {
	switch {
	case b == nil:
		return nil
	case binary:
		return base64.StdEncoding.EncodeToString(b)
	case json.Valid(b):
		return json.RawMessage(b)
	case utf8.Valid(b):
		return string(b)
	default:
		return base64.StdEncoding.EncodeToString(b)
	}
}
