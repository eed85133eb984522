package abi

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// runsByteByByte is FindRuns' specification, one byte at a time.
func runsByteByByte(buf []byte, set *ByteSet, minLen int) []uint32 {
	var out []uint32
	for i := 0; i < len(buf); {
		if !set.Has(buf[i]) {
			i++
			continue
		}
		e := i
		for e < len(buf) && set.Has(buf[e]) {
			e++
		}
		if e-i >= max(minLen, 1) {
			out = append(out, uint32(i), uint32(e))
		}
		i = e
	}
	return out
}

func setOf(chars string) *ByteSet {
	var s ByteSet
	for i := 0; i < len(chars); i++ {
		s.Add(chars[i])
	}
	return &s
}

func TestFindRunsMatchesByteByByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab@@ 0123456789--x")
	sets := []*ByteSet{setOf("@"), setOf("0123456789 -"), setOf("ab"), setOf(""), setOf("x")}
	for iter := 0; iter < 3000; iter++ {
		buf := make([]byte, rng.IntN(120))
		for i := range buf {
			buf[i] = alphabet[rng.IntN(len(alphabet))]
		}
		for _, set := range sets {
			for _, minLen := range []int{0, 1, 2, 3, 5, 13} {
				want := runsByteByByte(buf, set, minLen)
				// Whole, and in pieces through a small out buffer resumed
				// after the last run's end, as the SDK does.
				got := make([]uint32, 2*len(want)+2)
				if n := FindRuns(buf, set, minLen, got); !slices.Equal(got[:2*n], want) {
					t.Fatalf("%q minLen %d: got %v, want %v", buf, minLen, got[:2*n], want)
				}
				var pieces []uint32
				small := make([]uint32, 2)
				for from := 0; ; {
					n := FindRuns(buf[from:], set, minLen, small)
					for k := 0; k < n; k++ {
						pieces = append(pieces, small[2*k]+uint32(from), small[2*k+1]+uint32(from))
					}
					if n < len(small)/2 {
						break
					}
					from = int(pieces[len(pieces)-1])
				}
				if !slices.Equal(pieces, want) {
					t.Fatalf("%q minLen %d in pieces: got %v, want %v", buf, minLen, pieces, want)
				}
			}
		}
	}
}
