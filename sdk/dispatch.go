package sdk

import (
	"fmt"

	"github.com/sluicemq/sluice/wasm/abi"
)

// Every answer with status OK starts with the number of input records the
// plugin handled (ABI version 2; for partitioners it is the partition
// count). The host checks it against what it sent, so a plugin that lost
// its input fails loudly instead of answering "every record dropped".

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
	n, err := records.begin(in)
	if err != nil {
		return refuse(abi.StatusRejected, "sdk: "+err.Error())
	}
	if partitionFn == nil {
		return refuse(abi.StatusRejected, "sdk: no partitioner registered")
	}
	out := resetOutput(8 + 4*n)[:8+4*n]
	store32(out, 0, abi.StatusOK)
	store32(out, 4, uint32(n))
	parts := int(current.NumPartitions)
	var r Record
	for i := 0; i < n; i++ {
		if !records.next(&r) {
			return malformed()
		}
		store32(out, 8+4*i, uint32(int32(partitionFn(r, parts))))
	}
	return finish(out)
}

// malformed refuses a batch whose records do not follow the layout.
func malformed() []byte { return refuse(abi.StatusRejected, "sdk: "+abi.ErrMalformed.Error()) }

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
	w.out = appendEntry(w.out, abi.TagKeep, uint32(w.index))
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
	n, err := records.begin(in)
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
	out = le32(out, uint32(n))
	out = le32(out, 0)
	tw = transformWriter{out: out, emits: reuse(tw.emits, 0)}
	var r Record
	for i := 0; i < n; i++ {
		if !records.next(&r) {
			outBuf = tw.out // keep the grown space
			return malformed()
		}
		tw.index = i
		if err := transformFn(r, &tw); err != nil {
			outBuf = tw.out
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
	n, err := records.begin(in)
	if err != nil {
		return refuse(abi.StatusRejected, "sdk: "+err.Error())
	}
	if filterFn == nil {
		return refuse(abi.StatusRejected, "sdk: no filter registered")
	}
	rd := Reader{GroupID: current.GroupID, ClientID: current.ClientID, Principal: current.Principal}
	out := resetOutput(12 + 5*n)
	out = le32(out, abi.StatusOK)
	out = le32(out, uint32(n))
	out = le32(out, 0) // output count, patched below
	var count uint32
	var r Record
	for i := 0; i < n; i++ {
		if !records.next(&r) {
			outBuf = out
			return malformed()
		}
		r, keep, rewritten := filterFn(r, rd)
		if !keep {
			continue
		}
		count++
		if !rewritten {
			out = appendEntry(out, abi.TagKeep, uint32(i))
			continue
		}
		out = appendEntry(out, abi.TagReplace, uint32(i))
		out = appendRecord(out, &r)
	}
	putLE32(out[8:], count)
	return finish(out)
}
