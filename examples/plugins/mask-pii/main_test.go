package main

import (
	"math/rand/v2"
	"testing"
)

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"login ok for jane.doe@example.com from 10.0.0.1":            "login ok for ***@example.com from 10.0.0.1",
		"mail bob@example.org.":                                      "mail ***@example.org.",
		"paid with 4111 1111 1111 1234 and 5500-0000-0000-0004":      "paid with **** **** **** 1234 and ****-****-****-0004",
		"card 4111111111111111, again a@b.io":                        "card ************1111, again ***@b.io",
		"order 12345 at @home, x@localhost, id 12345678901234567890": "",
		"A4111111111111111 is a token, not a card":                   "",
		// Top-level domains: at least two letters, found within the
		// last eight bytes of a long domain or by the loop otherwise.
		"mail x@example.c and y@example.co":       "mail x@example.c and ***@example.co",
		"to zz@abcdefghijk.c1, zz@abcdefghijk.cd": "to zz@abcdefghijk.c1, ***@abcdefghijk.cd",
		"to q@ex.museum q@a.verylongtld q@a.bc":   "to ***@ex.museum ***@a.verylongtld ***@a.bc",
		"to q@x.y.z, q@aaaaaaaaa.b.cc":            "to q@x.y.z, ***@aaaaaaaaa.b.cc",
		"to q@aaaaaaaaa.b-c q@aaaaaaaaaa.ab9c":    "",
	} {
		got := mask(nil, []byte(in))
		if want == "" {
			if got != nil {
				t.Errorf("mask(%q) = %q, want no change", in, got)
			}
			continue
		}
		if string(got) != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// The transform masks every record into one reused buffer: what was there
// before must not leak into the next value.
func TestMaskReusesBuffer(t *testing.T) {
	buf := []byte("a much longer value left over from the previous record, with x@y.io")
	got := mask(buf[:0], []byte("hi a@b.io"))
	if string(got) != "hi ***@b.io" || &got[0] != &buf[0] {
		t.Fatalf("mask into a used buffer = %q (reused: %v)", got, &got[0] == &buf[0])
	}
	if got := mask(buf[:0], []byte("nothing here")); got != nil {
		t.Fatalf("no match = %q, want nil", got)
	}
}

// maskByteByByte is the straightforward scan mask replaced (one loop
// iteration per byte, as it was first written): the specification the
// faster scan must match.
func maskByteByByte(dst, value []byte) []byte {
	out := dst[:0]
	found := false
	last := 0
	for i := 0; i < len(value); {
		c := value[i]
		switch {
		case c == '@':
			start, end := emailAt(value, i)
			if end < 0 {
				i++
				continue
			}
			start = max(start, last)
			found = true
			out = append(out, value[last:start]...)
			out = append(out, "***"...)
			out = append(out, value[i:end]...)
			last, i = end, end
		case isDigit(c) && (i == 0 || !isWord(value[i-1])):
			end, digits := cardRunByteByByte(value, i)
			if digits >= 13 && digits <= 19 && (end == len(value) || !isWord(value[end])) {
				found = true
				out = append(out, value[last:i]...)
				out = appendMaskedDigits(out, value[i:end], digits-4)
				last = end
			}
			i = end
		default:
			i++
		}
	}
	if !found {
		return nil
	}
	return append(out, value[last:]...)
}

// The eight-bytes-at-a-time scan finds exactly what the byte-by-byte one
// does, on lines built from the bytes that matter (and some above 0x7F,
// which must never look like '@' or a digit).
func TestMaskMatchesByteByByteScan(t *testing.T) {
	alphabet := []byte("0123456789@.-_%+ aZz\x80\xc0\xb0\xb9\xe0:/x`{[")
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200_000; n++ {
		v := make([]byte, rng.IntN(60))
		for i := range v {
			if rng.IntN(3) == 0 {
				v[i] = '1'
			} else {
				v[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		if got, want := mask(nil, v), maskByteByByte(nil, v); string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("mask(%q) = %q, byte by byte %q", v, got, want)
		}
	}
	line := []byte("2025-03-14T09:00:00.000Z INFO checkout-api req=9e3779b1 action=login status=200 client=198.51.100.7 user=jane.doe7@example.com card=4111 1111 1111 1234 msg=\"request served\" pad=-----")
	if got, want := mask(nil, line), maskByteByByte(nil, line); string(got) != string(want) {
		t.Fatalf("log line: %q, byte by byte %q", got, want)
	}
}

// Lines with addresses and digits but rarely a card number take mask's
// one-pass path (every line over 8 bytes without a run of 13 card bytes):
// longer lines of mostly letters, '@' and '.', whose ends fall anywhere in
// the last eight bytes.
func TestMaskOnePassMatchesByteByByteScan(t *testing.T) {
	alphabet := []byte("abcxyz.@-_ 12\x80+%")
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200_000; n++ {
		v := make([]byte, rng.IntN(120))
		for i := range v {
			v[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := mask(nil, v), maskByteByByte(nil, v); string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("mask(%q) = %q, byte by byte %q", v, got, want)
		}
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("paid with 4111 1111 1111 1234 and a@b.io"))
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := mask(nil, v), maskByteByByte(nil, v); string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("mask(%q) = %q, byte by byte %q", v, got, want)
		}
	})
}

// cardRunByteByByte returns the end of the digit run starting at i (single
// spaces or dashes allowed between digits) and its number of digits.
func cardRunByteByByte(v []byte, i int) (end, digits int) {
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
