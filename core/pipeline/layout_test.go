package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
)

func hrecs(values ...string) []hooks.Record {
	out := make([]hooks.Record, len(values))
	for i, v := range values {
		out[i] = hooks.Record{Value: []byte(v), Timestamp: 1, Offset: -1}
	}
	return out
}

// TestPlace: passed-through records keep their input's offset delta,
// others take the free deltas in order, and the span always fits.
func TestPlace(t *testing.T) {
	for _, c := range []struct {
		in, out string
		want    string // deltas; "nil" = consecutive from 0
	}{
		{"a b c d", "a c d", "[0 2 3]"},
		{"a b c d", "", "nil"},
		{"a b c d", "a b", "nil"},
		{"a b c d", "d", "[3]"},
		{"a b c", "m", "nil"},       // a merge takes the first offset
		{"a b c d", "A C D", "nil"}, // rewritten: no way to tell, in order
		{"a b c d", "x d y", "nil"}, // d at 3 would leave y no room: in order
		{"a b c d", "b x", "[1 2]"},
		{"a a b", "a b", "[0 2]"},
		{"a b c d e f g h i j k l m n", "n", "[13]"}, // beyond the direct window (2)
		{"a b c d e f g h i j k l m n", "x m", "[0 12]"},
		{"a a b a", "a a", "nil"},
		{"a b c d", "a b c d e", "nil"},
	} {
		pos := place(hrecs(strings.Fields(c.in)...), hrecs(strings.Fields(c.out)...))
		got := "nil"
		if pos != nil {
			got = fmt.Sprint(pos)
		}
		if got != c.want {
			t.Errorf("place(%s → %s) = %s, want %s", c.in, c.out, got, c.want)
		}
	}
}

// TestLayoutStored: what the bridge answers per input record.
func TestLayoutStored(t *testing.T) {
	pd := &Pending{layouts: []layout{
		{in: 4, out: 3, pos: []int32{0, 2, 3}}, // 10-13
		{in: 1, out: 0},                        // 14
		{in: 1, out: 2},                        // 15-16
		{in: 3, out: 1},                        // 17-19
	}}
	pd.Result.BaseOffset = 10
	var got []string
	for i := range 9 {
		off, n := pd.Stored(i)
		if n == 0 {
			got = append(got, "dropped")
			continue
		}
		got = append(got, fmt.Sprintf("%d×%d", off, n))
	}
	if s, want := strings.Join(got, " "), "10×1 dropped 12×1 13×1 dropped 15×2 17×1 dropped dropped"; s != want {
		t.Fatalf("stored: %s, want %s", s, want)
	}
	// Without a transform: base + index.
	pd = &Pending{}
	pd.Result.BaseOffset = 5
	if off, n := pd.Stored(3); off != 8 || n != 1 {
		t.Fatalf("plain: %d×%d", off, n)
	}
}

// TestClientText: stack traces stay out of what clients are told.
func TestClientText(t *testing.T) {
	for in, want := range map[string]string{
		"plugin \"p\" (transform) failed: trap: panic: boom; wasm error: unreachable\nwasm stack trace:\n\t.runtime.abort()\n\t.main.f()": `plugin "p" (transform) failed: trap: panic: boom; wasm error: unreachable`,
		"hooks: plugin failed\nmalformed batch":                      "hooks: plugin failed; malformed batch",
		"panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:3": "panic: x",
		strings.Repeat("é", 600):                                     strings.Repeat("é", 512) + "…",
	} {
		if got := ClientText(in); got != want {
			t.Errorf("ClientText(%.40q) = %.80q, want %.80q", in, got, want)
		}
	}
}

// BenchmarkPlace: laying out a 1000-record batch of 200-byte values
// with every tenth record dropped, the others passed through (keep) or
// rewritten (copies).
func BenchmarkPlace(b *testing.B) {
	in := make([]hooks.Record, 1000)
	var keep, rewrite []hooks.Record
	for i := range in {
		in[i] = hooks.Record{Value: []byte(fmt.Sprintf("%0200d", i)), Timestamp: 1}
		if i%10 != 0 {
			keep = append(keep, in[i])
			rewrite = append(rewrite, hooks.Record{Value: []byte(fmt.Sprintf("%0199dx", i)), Timestamp: 1})
		}
	}
	for name, out := range map[string][]hooks.Record{"keep": keep, "rewrite": rewrite} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				place(in, out)
			}
		})
	}
}
