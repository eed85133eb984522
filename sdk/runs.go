package sdk

import (
	"unsafe"

	"github.com/sluicemq/sluice/wasm/abi"
)

// ByteSet is a set of bytes for Runs.
type ByteSet = abi.ByteSet

// Bytes returns the set of the bytes in chars.
func Bytes(chars string) ByteSet {
	var s ByteSet
	for i := 0; i < len(chars); i++ {
		s.Add(chars[i])
	}
	return s
}

// ByteRange returns the set of the bytes lo through hi.
func ByteRange(lo, hi byte) ByteSet {
	var s ByteSet
	for c := int(lo); c <= int(hi); c++ {
		s.Add(byte(c))
	}
	return s
}

// Union returns the bytes in any of sets.
func Union(sets ...ByteSet) ByteSet {
	var s ByteSet
	for _, t := range sets {
		for i := range s {
			s[i] |= t[i]
		}
	}
	return s
}

// Run is a run of bytes in a value: value[Start:End].
type Run struct{ Start, End int }

// Runs finds the maximal runs of at least a minimum length of bytes of a
// set in record values: every '@' of a value, its digit runs of 13 or
// more, and so on. The broker scans the whole batch natively for it, once
// per batch (sluice.find_runs, docs/plugin-abi.md), the first time a
// record's runs are asked for, so a plugin that looks for a few candidate
// bytes in long values does not pay Go-compiled-to-WebAssembly prices
// for the scan. Create Runs in init or at package level, not per record.
type Runs struct {
	set    ByteSet
	minLen int
	batch  uint64   // the batch found is for (0: none)
	found  []uint32 // start, end pairs, offsets in the input buffer
	until  int      // found covers the input up to here; past it In scans itself
	cursor int      // pair index where the last In started
	out    []Run
}

// NewRuns returns a finder of runs of at least minLen (at least 1) bytes
// of set.
func NewRuns(set ByteSet, minLen int) *Runs {
	return &Runs{set: set, minLen: max(minLen, 1)}
}

// maxRuns bounds the runs kept per batch (8 bytes each); values after
// the first maxRuns runs of a batch are scanned in the guest.
const maxRuns = 64 << 10

// batchSeq numbers batches, so a Runs knows when its runs are stale.
var batchSeq uint64

// In returns the runs in v, with offsets in v, valid until the next In
// call on x. v is normally a record's Key or Value, or part of one; for
// any other bytes (a value the plugin built) In scans v itself.
func (x *Runs) In(v []byte) []Run {
	x.out = x.out[:0]
	if len(v) < x.minLen {
		return x.out
	}
	off, ok := inputOffset(v)
	if !ok || batchSeq == 0 {
		return x.scan(v)
	}
	if x.batch != batchSeq {
		x.findBatch()
	}
	end := off + len(v)
	if end > x.until {
		return x.scan(v)
	}
	f := x.found
	pairs := len(f) / 2
	k := x.cursor
	if k > 0 && int(f[2*k-1]) > off { // behind the last record: start over
		k = 0
	}
	// Records come in order, so the cursor is normally on the record's
	// first run or one or two before it; far behind, search.
	for k < pairs && int(f[2*k+1]) <= off {
		if k+8 < pairs && int(f[2*(k+8)+1]) <= off {
			lo, hi := k+8, pairs // f's pair lo ends at or before off; find the first that ends after it
			for hi-lo > 1 {
				mid := int(uint(lo+hi) >> 1)
				if int(f[2*mid+1]) <= off {
					lo = mid
				} else {
					hi = mid
				}
			}
			k = hi
			break
		}
		k++
	}
	x.cursor = k
	for ; k < len(f)/2 && int(f[2*k]) < end; k++ {
		s, e := max(int(f[2*k]), off), min(int(f[2*k+1]), end)
		if e-s >= x.minLen {
			x.out = append(x.out, Run{s - off, e - off})
		}
	}
	return x.out
}

// findBatch has the host find the runs of the batch's input.
func (x *Runs) findBatch() {
	x.batch, x.cursor = batchSeq, 0
	in := records.buf
	if cap(x.found) == 0 {
		x.found = make([]uint32, 0, 2*1024)
	}
	x.found = x.found[:0]
	from := 0
	for {
		room := x.found[len(x.found):cap(x.found)]
		n := findRuns(in[from:], &x.set, x.minLen, room)
		for k := 0; k < 2*n; k++ {
			room[k] += uint32(from)
		}
		x.found = x.found[:len(x.found)+2*n]
		if 2*n < len(room)&^1 {
			x.until = len(in)
			return
		}
		from = int(x.found[len(x.found)-1])
		if len(x.found) >= 2*maxRuns {
			x.until = from
			return
		}
		x.found = append(x.found[:cap(x.found)], 0)[:len(x.found)] // grow
	}
}

// scan finds the runs in v in the guest.
func (x *Runs) scan(v []byte) []Run {
	var pairs [2 * 16]uint32
	for from := 0; ; {
		n := findRuns(v[from:], &x.set, x.minLen, pairs[:])
		for k := 0; k < n; k++ {
			x.out = append(x.out, Run{from + int(pairs[2*k]), from + int(pairs[2*k+1])})
		}
		if n < len(pairs)/2 {
			return x.out
		}
		from += int(pairs[2*n-1])
	}
}

// inputOffset is where v lies in the current batch's input, if it does.
func inputOffset(v []byte) (int, bool) {
	in := records.buf
	if len(in) == 0 || len(v) == 0 {
		return 0, false
	}
	d := uintptr(unsafe.Pointer(unsafe.SliceData(v))) - uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	if d > uintptr(len(in)) || uintptr(len(v)) > uintptr(len(in))-d {
		return 0, false
	}
	return int(d), true
}
