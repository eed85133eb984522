package abi

import "bytes"

// ByteSet is a set of bytes, one bit per byte value (bit c%8 of byte
// c/8): the layout sluice.find_runs reads from guest memory.
type ByteSet [32]byte

// Has reports whether c is in the set.
func (s *ByteSet) Has(c byte) bool { return s[c>>3]&(1<<(c&7)) != 0 }

// Add puts c in the set.
func (s *ByteSet) Add(c byte) { s[c>>3] |= 1 << (c & 7) }

// FindRuns is sluice.find_runs (docs/plugin-abi.md): it finds, from the
// start of buf, the maximal runs of bytes of set that are at least minLen
// long and stores each as two u32 (start, end: end exclusive, offsets in
// buf) into out, which holds len(out)/2 runs. It returns how many runs it
// stored; when out fills up there may be more, after the last run's end.
//
// It is the host's native scan for plugins whose per-byte work is finding
// a few candidates in long values (mask-pii's '@' and card-number digits):
// Go compiled to WebAssembly pays a table jump per taken branch, the host
// does the same scan several times faster and over the whole batch in one
// call. A single-byte set is found with bytes.IndexByte (vectorized);
// longer runs are found by testing one byte in minLen: a run at least
// minLen long that starts in [i, i+minLen) covers byte i+minLen-1.
func FindRuns(buf []byte, set *ByteSet, minLen int, out []uint32) int {
	minLen = max(minLen, 1)
	if c, ok := single(set); ok {
		return findByte(buf, c, minLen, out)
	}
	var in [256]bool
	for c := range in {
		in[c] = set.Has(byte(c))
	}
	n := 0
	// Invariant: every qualifying run starting before i is stored, and i is
	// 0 or buf[i-1] is not in the set (so a run found at or after i starts
	// where the backward scan stops).
	for i := 0; i+minLen <= len(buf) && n+2 <= len(out); {
		p := i + minLen - 1
		if !in[buf[p]] {
			i = p + 1
			continue
		}
		s := p
		for s > i && in[buf[s-1]] {
			s--
		}
		e := p + 1
		for e < len(buf) && in[buf[e]] {
			e++
		}
		if e-s >= minLen {
			out[n], out[n+1] = uint32(s), uint32(e)
			n += 2
		}
		i = e + 1
	}
	return n / 2
}

// single returns the set's only byte, if it has exactly one.
func single(set *ByteSet) (byte, bool) {
	found, count := 0, 0
	for i, b := range set {
		for ; b != 0; b &= b - 1 {
			count++
			found = i*8 + trailingZeros8(b)
		}
	}
	return byte(found), count == 1
}

func trailingZeros8(b byte) int {
	n := 0
	for b&1 == 0 {
		b >>= 1
		n++
	}
	return n
}

// findByte is FindRuns for a set of one byte c.
func findByte(buf []byte, c byte, minLen int, out []uint32) int {
	n := 0
	for i := 0; n+2 <= len(out); {
		k := bytes.IndexByte(buf[i:], c)
		if k < 0 {
			break
		}
		s := i + k
		e := s + 1
		for e < len(buf) && buf[e] == c {
			e++
		}
		if e-s >= minLen {
			out[n], out[n+1] = uint32(s), uint32(e)
			n += 2
		}
		i = e
	}
	return n / 2
}
