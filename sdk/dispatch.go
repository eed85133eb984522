package sdk

import (
	"fmt"

	"github.com/sluicemq/sluice/wasm/abi"
)

// Buffers larger than this are dropped after use so one huge batch does
// not pin guest memory for the plugin's lifetime.
const keepBufferBytes = 4 << 20

var (
	inBuf   []byte       // the host writes each batch here (sluice_alloc)
	outBuf  []byte       // the answer; valid until the next call
	current abi.Meta     // the batch being processed
	decoded []abi.Record // reused decode space
	reader  abi.Reader
)

// allocInput returns a buffer of n bytes for the host's next batch.
func allocInput(n int) []byte {
	if cap(inBuf) < n || (cap(inBuf) > keepBufferBytes && n < cap(inBuf)/4) {
		inBuf = make([]byte, n, max(n, 4096))
	}
	inBuf = inBuf[:n]
	return inBuf
}

// resetOutput starts a new answer, dropping an oversized previous one.
func resetOutput() []byte {
	if cap(outBuf) > keepBufferBytes {
		outBuf = nil
	}
	return outBuf[:0]
}

// decodeInput parses the batch in in; records alias in.
func decodeInput(in []byte) ([]abi.Record, error) {
	reader.Reset(in)
	n := reader.InputHeader(&current)
	if cap(decoded) < n {
		decoded = make([]abi.Record, n)
	}
	decoded = decoded[:n]
	for i := range decoded {
		reader.Record(&decoded[i])
	}
	if err := reader.Err(); err != nil {
		return nil, err
	}
	if len(decoded) > 1024 && cap(decoded) > 4*len(decoded) {
		decoded = nil
	}
	return decoded, nil
}

func toRecord(r *abi.Record) Record {
	out := Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset}
	if len(r.Headers) > 0 {
		out.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = Header{Key: string(h.Key), Value: h.Value}
		}
	}
	return out
}

func appendRecord(b []byte, r *Record) []byte {
	return abi.AppendRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers), func(i int) ([]byte, []byte) {
		return []byte(r.Headers[i].Key), r.Headers[i].Value
	})
}

func appendRefusal(out []byte, status uint32, msg string) []byte {
	out = le32(out[:0], status)
	return abi.AppendString(out, msg)
}

func le32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// handlePartition runs the registered partitioner over the batch in in.
func handlePartition(in []byte) []byte {
	out := resetOutput()
	recs, err := decodeInput(in)
	if err != nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: "+err.Error())
	}
	if partitionFn == nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: no partitioner registered")
	}
	out = le32(out, abi.StatusOK)
	out = le32(out, uint32(len(recs)))
	n := int(current.NumPartitions)
	for i := range recs {
		out = le32(out, uint32(int32(partitionFn(toRecord(&recs[i]), n))))
	}
	return out
}

// transformWriter collects one batch's output entries and emits.
type transformWriter struct {
	index   int
	entries []byte
	count   uint32
	emits   []byte
	nEmits  uint32
}

func (w *transformWriter) Keep() {
	w.entries = append(w.entries, abi.TagKeep)
	w.entries = le32(w.entries, uint32(w.index))
	w.count++
}

func (w *transformWriter) Write(r Record) {
	w.entries = append(w.entries, abi.TagRecord)
	w.entries = appendRecord(w.entries, &r)
	w.count++
}

func (w *transformWriter) Emit(topic string, r Record) {
	w.emits = abi.AppendString(w.emits, topic)
	w.emits = appendRecord(w.emits, &r)
	w.nEmits++
}

var tw transformWriter

// handleTransform runs the registered transform over the batch in in.
func handleTransform(in []byte) []byte {
	out := resetOutput()
	recs, err := decodeInput(in)
	if err != nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: "+err.Error())
	}
	if transformFn == nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: no transform registered")
	}
	if cap(tw.entries) > keepBufferBytes {
		tw.entries = nil
	}
	if cap(tw.emits) > keepBufferBytes {
		tw.emits = nil
	}
	tw = transformWriter{entries: tw.entries[:0], emits: tw.emits[:0]}
	for i := range recs {
		tw.index = i
		if err := transformFn(toRecord(&recs[i]), &tw); err != nil {
			re := refusal(err)
			status := uint32(abi.StatusRejected)
			if re.Policy {
				status = abi.StatusPolicy
			}
			return appendRefusal(out, status, fmt.Sprintf("record %d: %s", i, re.Message))
		}
	}
	out = le32(out, abi.StatusOK)
	out = le32(out, tw.count)
	out = append(out, tw.entries...)
	out = le32(out, tw.nEmits)
	return append(out, tw.emits...)
}

// handleFilter runs the registered filter over the batch in in.
func handleFilter(in []byte) []byte {
	out := resetOutput()
	recs, err := decodeInput(in)
	if err != nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: "+err.Error())
	}
	if filterFn == nil {
		return appendRefusal(out, abi.StatusRejected, "sdk: no filter registered")
	}
	rd := Reader{GroupID: current.GroupID, ClientID: current.ClientID, Principal: current.Principal}
	out = le32(out, abi.StatusOK)
	countAt := len(out)
	out = le32(out, 0)
	var count uint32
	for i := range recs {
		r, keep, rewritten := filterFn(toRecord(&recs[i]), rd)
		if !keep {
			continue
		}
		count++
		if !rewritten {
			out = append(out, abi.TagKeep)
			out = le32(out, uint32(i))
			continue
		}
		out = append(out, abi.TagReplace)
		out = le32(out, uint32(i))
		out = appendRecord(out, &r)
	}
	out[countAt], out[countAt+1], out[countAt+2], out[countAt+3] = byte(count), byte(count>>8), byte(count>>16), byte(count>>24)
	outBuf = out
	return out
}
