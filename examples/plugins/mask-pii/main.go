// Command mask-pii is a Sluice produce transform: it masks e-mail
// addresses and payment card numbers in log lines before they are stored.
//
//   - An e-mail address keeps its domain: jane@example.com -> ***@example.com.
//   - A card number is a run of 13 to 19 digits, optionally grouped by
//     single spaces or dashes, not touching other letters or digits; it
//     keeps its separators and last four digits:
//     4111 1111 1111 1234 -> **** **** **** 1234.
//
// It scans bytes by hand rather than with regexp: it runs on every record
// produced to the topic, and lines without anything to mask cost one pass
// and no allocation. Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mask-pii.wasm .
package main

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/sluicemq/sluice/sdk"
)

// scratch holds the masked value of the record being handled. w.Write
// copies the record into the answer, so one buffer serves every record
// and a long run allocates nothing per record.
var scratch []byte

func init() {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		masked := mask(scratch[:0], r.Value)
		if masked == nil {
			w.Keep()
			return nil
		}
		scratch = masked
		r.Value = masked
		w.Write(r)
		return nil
	})
}

// mask appends value with e-mail addresses and card numbers masked to
// dst[:0], or returns nil when there is nothing to mask.
//
// Go compiled to WebAssembly pays for every taken branch (a jump through
// the function's dispatch table), so the scan avoids a loop iteration per
// byte: it looks at eight bytes at a time for the only bytes that can
// start a match, '@' and digits (candidates), and walks byte by byte only
// around those.
func mask(dst, value []byte) []byte {
	out := dst[:0]
	found := false // out holds the masked value so far
	last := 0      // value[last:] is not copied to out yet
	for i := 0; ; {
		i = nextCandidate(value, i)
		if i >= len(value) {
			break
		}
		if value[i] == '@' {
			start, end := emailAt(value, i)
			if end < 0 {
				i++
				continue
			}
			// A card number that runs into the address was masked
			// already: the address keeps what follows it.
			start = max(start, last)
			found = true
			out = append(out, value[last:start]...)
			out = append(out, "***"...)
			out = append(out, value[i:end]...)
			last, i = end, end
			continue
		}
		if i > 0 && isWord(value[i-1]) {
			// A digit inside a word (a token, a hex id) starts no card
			// number, nor does any digit up to the word's end.
			for i < len(value) && isWord(value[i]) {
				i++
			}
			continue
		}
		end, digits := cardRun(value, i)
		if digits >= 13 && digits <= 19 && (end == len(value) || !isWord(value[end])) {
			found = true
			out = append(out, value[last:i]...)
			out = appendMaskedDigits(out, value[i:end], digits-4)
			last = end
		}
		i = end
	}
	if !found {
		return nil
	}
	return append(out, value[last:]...)
}

// Byte-lane constants for nextCandidate.
const (
	lanes = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7F7F7F7F7F7F7F7F
)

// nextCandidate returns the index of the first '@' or digit at or after
// i, or len(v).
func nextCandidate(v []byte, i int) int {
	for ; i+8 <= len(v); i += 8 {
		if m := candidates(binary.LittleEndian.Uint64(v[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; c == '@' || isDigit(c) {
			return i
		}
	}
	return len(v)
}

// candidates has the high bit set in each byte of x that is '@' or a
// digit (exactly: no carries between bytes).
func candidates(x uint64) uint64 {
	x7 := x & lows                                // each byte below 0x80: sums below stay in the byte
	atLeast0 := x7 + (0x80-'0')*lanes             // high bit: byte >= '0'
	above9 := x7 + (0x80-'9'-1)*lanes             // high bit: byte > '9'
	at := x7 ^ '@'*lanes                          // zero where '@'
	isAt := ^((at & lows) + lows | at)            // high bit: at byte is zero
	return (atLeast0&^above9 | isAt) &^ x & highs // and never a byte >= 0x80
}

// emailAt finds the address around the '@' at at: the start of its local
// part and the end of its domain, or end -1 when it is not an address.
func emailAt(v []byte, at int) (start, end int) {
	start = at
	for start > 0 && isLocal(v[start-1]) {
		start--
	}
	if start == at {
		return 0, -1
	}
	dot := -1
	end = at + 1
	for end < len(v) && isDomain(v[end]) {
		if v[end] == '.' {
			dot = end
		}
		end++
	}
	for end > at+1 && (v[end-1] == '.' || v[end-1] == '-') { // sentence punctuation
		end--
	}
	if dot >= end {
		dot = bytes.LastIndexByte(v[at+1:end], '.')
		if dot >= 0 {
			dot += at + 1
		}
	}
	if dot < 0 || end-dot-1 < 2 {
		return 0, -1
	}
	for _, c := range v[dot+1 : end] {
		if !isLetter(c) {
			return 0, -1
		}
	}
	return start, end
}

// cardRun returns the end of the digit run starting at i (single spaces
// or dashes allowed between digits) and its number of digits.
func cardRun(v []byte, i int) (end, digits int) {
	end = i
	for end < len(v) {
		if isDigit(v[end]) {
			digits++
			end++
			continue
		}
		if (v[end] == ' ' || v[end] == '-') && end+1 < len(v) && isDigit(v[end+1]) {
			end++
			continue
		}
		break
	}
	return end, digits
}

// appendMaskedDigits appends run with its first n digits replaced by '*'.
func appendMaskedDigits(out, run []byte, n int) []byte {
	for _, c := range run {
		if isDigit(c) && n > 0 {
			c = '*'
			n--
		}
		out = append(out, c)
	}
	return out
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isWord(c byte) bool   { return isDigit(c) || isLetter(c) || c == '_' }
func isLocal(c byte) bool {
	return isDigit(c) || isLetter(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}
func isDomain(c byte) bool { return isDigit(c) || isLetter(c) || c == '.' || c == '-' }

func main() {}
