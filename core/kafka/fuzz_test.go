package kafka

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestFrame encodes req (every field set by fill) as a whole frame at
// version v, without the size prefix.
func requestFrame(req kmsg.Request, v int16) []byte {
	fill(reflect.ValueOf(req).Elem(), 0)
	req.SetVersion(v)
	frame := kbin.AppendInt16(nil, req.Key())
	frame = kbin.AppendInt16(frame, v)
	frame = kbin.AppendInt32(frame, 7)
	frame = kbin.AppendNullableString(frame, nil)
	if req.IsFlexible() {
		frame = append(frame, 0)
	}
	return req.AppendTo(frame)
}

// FuzzParseRequest: no frame makes the request decoder panic, loop on a
// claimed count, or allocate out of proportion to the frame: decoding
// allocates at most the decode budget's worth for what boundRequest let
// through, which is itself bounded by the bytes present. Seeds: every API
// at every version served, plus testdata/fuzz/FuzzParseRequest.
//
//	go test -run '^$' -fuzz FuzzParseRequest -fuzztime 30s ./core/kafka/
func FuzzParseRequest(f *testing.F) {
	for _, a := range sortedAPIs() {
		for v := a.min; v <= a.max; v++ {
			f.Add(requestFrame(kmsg.RequestForKey(a.key), v))
		}
	}
	f.Add(metadataFrame(4, 10_000_000, 64))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h, req, err := parseRequestWithin(frame, 1<<20)
		runtime.ReadMemStats(&after)
		// Budget plus what kmsg may add beyond the estimate (strings are
		// copied, maps grow by doubling) plus fixed overhead.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20+64*uint64(len(frame)) {
			t.Fatalf("decoding a %d-byte frame allocated %d bytes", len(frame), grew)
		}
		if err == nil && (h == nil || req == nil || req.Key() != h.key) {
			t.Fatalf("parsed without a request: %+v %v", h, req)
		}
	})
}
