package sdk

import (
	"fmt"

	"github.com/sluicemq/sluice/wasm/abi"
)

// Every answer with status OK starts with the number of input records the
// plugin handled (ABI version 2; for partitioners it is the partition
// count). The host checks it against what it sent, so a plugin that lost
// its input fails loudly instead of answering "every record dropped".

func appendRecord(b []byte, r *Record) []byte {
	b, start := abi.BeginRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers))
	for _, h := range r.Headers {
		b = abi.AppendHeader(b, h.Key, h.Value)
	}
	return abi.FinishRecord(b, start)
}

func refuse(status uint32, msg string) []byte {
	out := le32(resetOutput(8+len(msg)), status)
	return finish(abi.AppendString(out, msg))
}

// finish keeps out as the answer's space for the next call.
func finish(out []byte) []byte {
	outBuf = out
	return out
}

func le32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// handlePartition runs the registered partitioner over the batch in in.
func handlePartition(in []byte) []byte {
	recs, err := decodeInput(in)
	if err != nil {
		return refuse(abi.StatusRejected, "sdk: "+err.Error())
	}
	if partitionFn == nil {
		return refuse(abi.StatusRejected, "sdk: no partitioner registered")
	}
	out := resetOutput(8 + 4*len(recs))
	out = le32(out, abi.StatusOK)
	out = le32(out, uint32(len(recs)))
	n := int(current.NumPartitions)
	for i := range recs {
		out = le32(out, uint32(int32(partitionFn(toRecord(&recs[i]), n))))
	}
	return finish(out)
}

// transformWriter appends one batch's output entries straight into the
// answer and collects its emits aside (they follow the entries).
type transformWriter struct {
	index  int
	out    []byte
	count  uint32
	emits  []byte
	nEmits uint32
}

func (w *transformWriter) Keep() {
	w.out = append(w.out, abi.TagKeep)
	w.out = le32(w.out, uint32(w.index))
	w.count++
}

func (w *transformWriter) Write(r Record) {
	w.out = append(w.out, abi.TagRecord)
	w.out = appendRecord(w.out, &r)
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
	recs, err := decodeInput(in)
	if err != nil {
		return refuse(abi.StatusRejected, "sdk: "+err.Error())
	}
	if transformFn == nil {
		return refuse(abi.StatusRejected, "sdk: no transform registered")
	}
	// Status, input count and a placeholder for the output count; most
	// transforms answer about as much as they were given.
	out := resetOutput(len(in))
	out = le32(out, abi.StatusOK)
	out = le32(out, uint32(len(recs)))
	out = le32(out, 0)
	tw = transformWriter{out: out, emits: reuse(tw.emits, 0)}
	for i := range recs {
		tw.index = i
		if err := transformFn(toRecord(&recs[i]), &tw); err != nil {
			outBuf = tw.out // keep the grown space
			re := refusal(err)
			status := uint32(abi.StatusRejected)
			if re.Policy {
				status = abi.StatusPolicy
			}
			return refuse(status, fmt.Sprintf("record %d: %s", i, re.Message))
		}
	}
	out = tw.out
	putLE32(out[8:], tw.count)
	out = le32(out, tw.nEmits)
	return finish(append(out, tw.emits...))
}

// handleFilter runs the registered filter over the batch in in.
func handleFilter(in []byte) []byte {
	recs, err := decodeInput(in)
	if err != nil {
		return refuse(abi.StatusRejected, "sdk: "+err.Error())
	}
	if filterFn == nil {
		return refuse(abi.StatusRejected, "sdk: no filter registered")
	}
	rd := Reader{GroupID: current.GroupID, ClientID: current.ClientID, Principal: current.Principal}
	out := resetOutput(12 + 5*len(recs))
	out = le32(out, abi.StatusOK)
	out = le32(out, uint32(len(recs)))
	out = le32(out, 0) // output count, patched below
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
	putLE32(out[8:], count)
	return finish(out)
}
