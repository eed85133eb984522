package kafka

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fill sets every field of v (recursively, one element per slice) to a
// non-zero value, so that encoding exercises every field of a version.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.String {
			s := "ab"
			v.Set(reflect.ValueOf(&s))
		}
	case reflect.String:
		v.SetString("abc")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(3)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Array:
		for i := range v.Len() {
			v.Index(i).SetUint(uint64(i + 1))
		}
	case reflect.Slice:
		if depth > 6 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(kmsg.Tags{}) {
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Name != "Version" {
				fill(v.Field(i), depth)
			}
		}
	}
}

// TestRequestLayouts: for every API and version the server accepts, a
// request with every field set walks exactly to its end: the layouts in
// reqschema.txt match what clients encode.
func TestRequestLayouts(t *testing.T) {
	for _, a := range sortedAPIs() {
		if _, ok := reqLayouts[a.key]; !ok {
			t.Errorf("%s: no request layout", kmsg.NameForKey(a.key))
		}
	}
	for key := range reqLayouts {
		// Layouts of APIs not (yet) served are checked at every version
		// kmsg knows.
		a, ok := apis[key]
		if !ok {
			a = api{key: key, max: kmsg.RequestForKey(key).MaxVersion()}
		}
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(a.key)
			fill(reflect.ValueOf(req).Elem(), 0)
			req.SetVersion(v)
			body := req.AppendTo(nil)
			l := reqLayouts[a.key]
			w := walker{b: body, v: v, flex: l.flexFrom >= 0 && v >= l.flexFrom}
			w.structure(l.fields)
			if w.err != nil || len(w.b) != 0 {
				t.Errorf("%s v%d: walk: err %v, %d of %d bytes left", kmsg.NameForKey(a.key), v, w.err, len(w.b), len(body))
			}
			if w.flex != req.IsFlexible() {
				t.Errorf("%s v%d: flexible %v, kmsg says %v", kmsg.NameForKey(a.key), v, w.flex, req.IsFlexible())
			}
			if !ok {
				continue
			}
			// And the full frame parses.
			frame := kbin.AppendInt16(nil, a.key)
			frame = kbin.AppendInt16(frame, v)
			frame = kbin.AppendInt32(frame, 7)
			frame = kbin.AppendNullableString(frame, nil)
			if req.IsFlexible() {
				frame = append(frame, 0)
			}
			if _, _, err := parseRequest(append(frame, body...)); err != nil {
				t.Errorf("%s v%d: parseRequest: %v", kmsg.NameForKey(a.key), v, err)
			}
		}
	}
}

// metadataFrame is a Metadata v4 request whose topic array claims count
// entries and carries names of nameLen bytes for as many as fit in size.
func metadataFrame(version int16, count int32, size int) []byte {
	frame := kbin.AppendInt16(nil, 3)
	frame = kbin.AppendInt16(frame, version)
	frame = kbin.AppendInt32(frame, 1)
	frame = kbin.AppendNullableString(frame, nil)
	frame = kbin.AppendInt32(frame, count)
	for len(frame)+3 <= size {
		frame = append(frame, 0, 1, 'x') // a one-byte topic name
	}
	return frame
}

func TestBoundRequestRefusesHugeClaims(t *testing.T) {
	// Millions of claimed topics with nothing behind them.
	if _, _, err := parseRequest(metadataFrame(4, 10_000_000, 1000)); !errors.Is(err, errMalformed) {
		t.Fatalf("claimed count: %v", err)
	}
	// 20 MB of real one-byte topic names: ~7M elements, past the budget.
	big := metadataFrame(4, (20<<20-17)/3, 20<<20)
	if _, _, err := parseRequest(big); !errors.Is(err, errRequestTooLarge) {
		t.Fatalf("20 MB metadata: %v", err)
	}
	// A flexible request claiming 2^32 tags.
	hb := kmsg.NewHeartbeatRequest()
	hb.SetVersion(4)
	body := hb.AppendTo(nil)
	body = append(body[:len(body)-1], binary.AppendUvarint(nil, 1<<32-1)...)
	frame := kbin.AppendInt16(nil, 12)
	frame = kbin.AppendInt16(frame, 4)
	frame = kbin.AppendInt32(frame, 1)
	frame = kbin.AppendNullableString(frame, nil)
	frame = append(frame, 0)
	if _, _, err := parseRequest(append(frame, body...)); !errors.Is(err, errMalformed) {
		t.Fatalf("tag count: %v", err)
	}
	// A normal large produce (records alias the frame) is fine.
	p := kmsg.NewProduceRequest()
	p.SetVersion(9)
	p.Acks = -1
	p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, 90<<20)}}}}
	frame = kbin.AppendInt16(nil, 0)
	frame = kbin.AppendInt16(frame, 9)
	frame = kbin.AppendInt32(frame, 1)
	frame = kbin.AppendNullableString(frame, nil)
	frame = append(frame, 0)
	if _, _, err := parseRequest(p.AppendTo(frame)); err != nil {
		t.Fatalf("90 MB produce: %v", err)
	}
}
