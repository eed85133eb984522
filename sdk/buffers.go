package sdk

import "github.com/sluicemq/sluice/wasm/abi"

// Guest memory is never returned to the host, so every buffer the SDK
// keeps between calls is reused rather than reallocated, grows
// geometrically (a stream of slowly growing batches must not leave a trail
// of slightly smaller dead buffers behind) and is dropped once it is far
// larger than the batches it serves.

// Buffers larger than this are dropped when a batch needs less than a
// quarter of them, so one huge batch does not pin guest memory for the
// plugin's lifetime.
const keepBufferBytes = 4 << 20

// keepDecodedRecords is the same bound for the decode space, in records.
const keepDecodedRecords = 16 << 10

var (
	inBuf   []byte       // the host writes each batch here (sluice_alloc)
	outBuf  []byte       // the answer; valid until the next call
	current abi.Meta     // the batch being processed
	decoded []abi.Record // reused decode space; records alias inBuf
	headers []Header     // reused header space of the record being handled
	reader  abi.Reader
)

// reuse returns buf resliced to n bytes, reallocated when it is too small
// or oversized for n.
func reuse(buf []byte, n int) []byte {
	if n <= cap(buf) && (cap(buf) <= keepBufferBytes || n > cap(buf)/4) {
		return buf[:n]
	}
	size := max(n, 4096)
	if n > cap(buf) {
		size = max(size, min(2*cap(buf), keepBufferBytes))
	}
	return make([]byte, n, size)
}

// allocInput returns a buffer of n bytes for the host's next batch.
func allocInput(n int) []byte {
	next := reuse(inBuf, n)
	if cap(next) != cap(inBuf) {
		// The decode space aliases the old buffer: let it go with it.
		clear(decoded[:cap(decoded)])
	}
	inBuf = next
	return inBuf
}

// resetOutput starts a new answer in the previous one's space.
func resetOutput(sizeHint int) []byte {
	outBuf = reuse(outBuf, sizeHint)
	return outBuf[:0]
}

// recordSpace returns decode space for n records.
func recordSpace(n int) []abi.Record {
	if n > cap(decoded) || (cap(decoded) > keepDecodedRecords && n < cap(decoded)/4) {
		decoded = make([]abi.Record, n, max(n, min(2*cap(decoded), keepDecodedRecords)))
	}
	return decoded[:n]
}

// decodeInput parses the batch in in; records alias in.
func decodeInput(in []byte) ([]abi.Record, error) {
	reader.Reset(in)
	n := reader.InputHeader(&current)
	if err := reader.Err(); err != nil {
		return nil, err
	}
	recs := recordSpace(n)
	for i := range recs {
		reader.Record(&recs[i])
	}
	if err := reader.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

// toRecord converts a decoded record for the plugin's function. Its
// headers live in space reused for the next record (records are valid
// only during the call).
func toRecord(r *abi.Record) Record {
	out := Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset}
	if len(r.Headers) > 0 {
		headers = headers[:0]
		for _, h := range r.Headers {
			headers = append(headers, Header{Key: string(h.Key), Value: h.Value})
		}
		out.Headers = headers[:len(headers):len(headers)]
	}
	return out
}
