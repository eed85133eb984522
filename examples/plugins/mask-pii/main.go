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
// Most lines hold no card number, so one pass over eight bytes at a time
// looks for '@' and for what any card number needs: a run of at least 13
// card bytes, each a digit or a single separator between two digits
// (timestamps such as 2025-03-14 have 10). Each '@' is expanded to its
// address at once; only when the pass finds such a run does the line go
// through maskExact's full scan instead. Without card numbers the full
// scan's words and digit runs change nothing: every '@' is reached, and an
// address ends where maskExact's does, so both mask the same addresses the
// same way (the tests check both against the byte-by-byte specification).
func mask(dst, value []byte) []byte {
	n := len(value)
	if n < 8 {
		return maskExact(dst, value)
	}
	out := dst[:0]
	found := false
	last := 0 // value[last:] is not copied to out yet
	var st scanState
	for i := 0; i < n; i += 8 {
		var at uint64
		var card bool
		if at, i, card = nextWord(value, i, &st); card {
			return maskExact(dst, value)
		}
		for ; at != 0; at &= at - 1 {
			a := i + bits.TrailingZeros64(at)/8
			start, end := emailAt(value, a)
			if end < 0 {
				continue
			}
			start = max(start, last)
			found = true
			out = append(out, value[last:start]...)
			out = append(out, '*', '*', '*') // three stores, no copy call
			out = append(out, value[a:end]...)
			last = end
		}
	}
	if !found {
		return nil
	}
	return append(out, value[last:]...)
}

// scanState is what nextWord carries from one word to the next: whether
// the last byte was a digit (0x80) and the card bytes that end the bytes
// scanned so far.
type scanState struct{ carry, run uint64 }

// nextWord scans value eight bytes at a time from i for the first word
// with an '@' (at: its lanes) or that ends a possible card number (card),
// and returns its offset (len(value) when there is none). It is a
// function of its own, with few variables, so its loop stays tight.
func nextWord(value []byte, i int, st *scanState) (at uint64, word int, card bool) {
	n := len(value)
	carry, run := st.carry, st.run
	// Sixteen bytes per turn while they last: each turn's jump back costs a
	// pass through the function's dispatch table (and the deadline
	// check), more than the lanes of eight bytes. The two halves are the
	// loop below written out twice.
	for ; i+16 <= n; i += 16 {
		x := load64(value, i)
		x7, ascii := x&lows, ^x&highs
		d := digits(x7) & ascii
		sep := (equal(x7, ' ') | equal(x7, '-')) & ascii
		c := d | sep&(d<<8|carry)&(d>>8|0x80<<56)
		carry = d >> 56
		other := ^c & highs
		lead := uint64(bits.TrailingZeros64(other) / 8)
		long := run + lead
		run = uint64(bits.LeadingZeros64(other)/8) + run*(lead>>3)
		if at = equal(x7, '@') & ascii; at != 0 || long >= 13 {
			st.carry, st.run = carry, run
			return at, i, long >= 13
		}
		x = load64(value, i+8)
		x7, ascii = x&lows, ^x&highs
		d = digits(x7) & ascii
		sep = (equal(x7, ' ') | equal(x7, '-')) & ascii
		c = d | sep&(d<<8|carry)&(d>>8|0x80<<56)
		carry = d >> 56
		other = ^c & highs
		lead = uint64(bits.TrailingZeros64(other) / 8)
		long = run + lead
		run = uint64(bits.LeadingZeros64(other)/8) + run*(lead>>3)
		if at = equal(x7, '@') & ascii; at != 0 || long >= 13 {
			st.carry, st.run = carry, run
			return at, i + 8, long >= 13
		}
	}
	for ; i < n; i += 8 {
		var x uint64
		if i+8 <= n {
			x = load64(value, i)
		} else { // the tail, in the low lanes; zero lanes match nothing
			x = load64(value, n-8) >> (8 * uint(i+8-n))
		}
		x7, ascii := x&lows, ^x&highs
		d := digits(x7) & ascii
		sep := (equal(x7, ' ') | equal(x7, '-')) & ascii
		// A separator counts between two digits; the byte after these
		// eight is taken for a digit (this is a necessary condition only).
		c := d | sep&(d<<8|carry)&(d>>8|0x80<<56)
		carry = d >> 56
		// Eight bytes hold no run of 13: one would continue the run
		// before them (lead: the card bytes these eight start with).
		other := ^c & highs
		lead := uint64(bits.TrailingZeros64(other) / 8)
		long := run + lead // >= 13: a possible card number
		run = uint64(bits.LeadingZeros64(other)/8) + run*(lead>>3)
		if at = equal(x7, '@') & ascii; at != 0 || long >= 13 {
			st.carry, st.run = carry, run
			return at, i, long >= 13
		}
	}
	return 0, n, false
}

// maskExact is mask's general scan, for lines that may hold a card
// number (mask's pass found a candidate) or are shorter than eight bytes.
//
// Go compiled to WebAssembly pays dearly for every call (about 20 ns) and
// every taken branch (a jump through the function's dispatch table), so
// the scan makes no call per step and few loop iterations: it looks at
// eight bytes at a time for the only bytes that can start a match ('@',
// and digits that start a word) and steps over card-number candidates a
// group of digits at a time. Only the tiny lane helpers are called, and
// the compiler inlines those.
func maskExact(dst, value []byte) []byte {
	out := dst[:0]
	found := false // out holds the masked value so far
	last := 0      // value[last:] is not copied to out yet
	n := len(value)
	for i := 0; i < n; {
		if i+8 <= n {
			x := load64(value, i)
			x7 := x & lows
			d := digits(x7)
			word := (d | letters(x7) | equal(x7, '_')) &^ x & highs
			prev := word << 8 // a byte's predecessor is a word byte
			if i > 0 && isWord(value[i-1]) {
				prev |= 0x80
			}
			m := (d&^prev | equal(x7, '@')) &^ x & highs
			if m == 0 {
				i += 8
				continue
			}
			// A card number needs 13 digits: a digit run (with its single
			// separators) that ends inside these eight bytes is too short.
			// Mark each run's end and spread the mark back over the run.
			dm := d &^ x & highs
			sep := (equal(x7, ' ') | equal(x7, '-')) &^ x & highs
			run := dm | sep&(dm>>8|0x80<<56) // a separator continues a run before a digit (or maybe past these bytes)
			short := ^run & highs
			short |= short >> 8 & run // unrolled: a loop costs a jump per turn
			short |= short >> 8 & run
			short |= short >> 8 & run
			short |= short >> 8 & run
			short |= short >> 8 & run
			short |= short >> 8 & run
			short |= short >> 8 & run
			if m &^= short &^ equal(x7, '@'); m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		} else if c := value[i]; c != '@' && (!isDigit(c) || i > 0 && isWord(value[i-1])) {
			i++
			continue
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
			out = append(out, '*', '*', '*') // three stores, no copy call
			out = append(out, value[i:end]...)
			last, i = end, end
			continue
		}
		// A card number candidate: digits with single spaces or dashes
		// between them, counted a group of digits at a time.
		end, count := i, 0
		for end < n {
			if end+8 <= n {
				x := load64(value, end)
				k := bits.TrailingZeros64(^(digits(x&lows)&^x)&highs) / 8
				count += k
				end += k
				if k == 8 {
					continue
				}
			} else if isDigit(value[end]) {
				count++
				end++
				continue
			}
			if end+1 < n && (value[end] == ' ' || value[end] == '-') && isDigit(value[end+1]) {
				end++
				continue
			}
			break
		}
		if count >= 13 && count <= 19 && (end == n || !isWord(value[end])) {
			found = true
			out = append(out, value[last:i]...)
			out = appendMaskedDigits(out, value[i:end], count-4)
			last = end
		}
		i = end
	}
	if !found {
		return nil
	}
	return append(out, value[last:]...)
}

// Byte-lane constants of the eight-bytes-at-a-time scans.
const (
	lanes = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7F7F7F7F7F7F7F7F
)

// The byte lanes of x (eight bytes) in a class: the high bit of each
// byte of the result is set when that byte is in it. Every sum stays
// within its byte (each byte is first cut below 0x80), so lanes never
// disturb each other, and bytes >= 0x80 are in no class.

// atLeast marks bytes >= c (c in 1..0x80) of x7 (x with bytes below 0x80).
func atLeast(x7 uint64, c byte) uint64 { return x7 + uint64(0x80-c)*lanes }

// equal marks bytes of x7 equal to c.
func equal(x7 uint64, c byte) uint64 {
	d := x7 ^ uint64(c)*lanes
	return ^(d + lows | d)
}

func digits(x7 uint64) uint64 { return atLeast(x7, '0') &^ atLeast(x7, '9'+1) }

func letters(x7 uint64) uint64 {
	lower := x7 | 0x20*lanes
	return atLeast(lower, 'a') &^ atLeast(lower, 'z'+1)
}

// emailAt finds the address around the '@' at at: the start of its local
// part and the end of its domain, or end -1 when it is not an address.
// Both spans are found eight bytes at a time, in this one function (a
// call costs more than the scan of a short address).
func emailAt(v []byte, at int) (start, end int) {
	start = at
	for start >= 8 {
		// The lanes of a local part's bytes (digits, letters, '.', '-',
		// '_', '%', '+') written out here, not in a helper: Go's inliner
		// will not take one that size, and a call per eight bytes costs
		// more than the lanes.
		x := load64(v, start-8)
		x7 := x & lows
		lower := x7 | 0x20*lanes
		local := (atLeast(x7, '0') &^ atLeast(x7, '9'+1)) | (atLeast(lower, 'a') &^ atLeast(lower, 'z'+1)) |
			equal(x7, '.') | equal(x7, '-') | equal(x7, '_') | equal(x7, '%') | equal(x7, '+')
		if m := ^(local &^ x) & highs; m != 0 {
			start -= bits.LeadingZeros64(m) / 8
			break
		}
		start -= 8
	}
	if start < 8 {
		for start > 0 && isLocal(v[start-1]) {
			start--
		}
	}
	if start == at {
		return 0, -1
	}
	end = at + 1
	for end+8 <= len(v) {
		x := load64(v, end) // a domain's: digits, letters, '.', '-'
		x7 := x & lows
		lower := x7 | 0x20*lanes
		domain := (atLeast(x7, '0') &^ atLeast(x7, '9'+1)) | (atLeast(lower, 'a') &^ atLeast(lower, 'z'+1)) |
			equal(x7, '.') | equal(x7, '-')
		if m := ^(domain &^ x) & highs; m != 0 {
			end += bits.TrailingZeros64(m) / 8
			break
		}
		end += 8
	}
	if end+8 > len(v) {
		for end < len(v) && isDomain(v[end]) {
			end++
		}
	}
	for end > at+1 && (v[end-1] == '.' || v[end-1] == '-') { // sentence punctuation
		end--
	}
	if end-8 > at {
		// The top-level domain in the eight bytes before end, without a
		// loop: the last '.' there, and only letters after it.
		x := load64(v, end-8)
		x7, ascii := x&lows, ^x&highs
		dots := equal(x7, '.') & ascii
		if dots != 0 {
			tail := bits.LeadingZeros64(dots) // bits after the last '.'
			if tail < 16 {
				return 0, -1 // a top-level domain under two bytes
			}
			after := ^uint64(0) << (64 - tail) & highs
			if letters(x7)&ascii&after != after {
				return 0, -1
			}
			return start, end
		}
	}
	dot := end - 1
	for dot > at && v[dot] != '.' {
		dot--
	}
	if dot == at || end-dot-1 < 2 {
		return 0, -1
	}
	for _, c := range v[dot+1 : end] {
		if !isLetter(c) {
			return 0, -1
		}
	}
	return start, end
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
