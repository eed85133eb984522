package main

import "testing"

// TestChecker: the loss/dup accounting finds each kind of fault.
func TestChecker(t *testing.T) {
	l := newLedger("p", "t")
	for range 6 {
		l.next()
	}
	l.ack(1, position{0, 0})
	l.ack(2, position{0, 1})
	l.ack(3, position{0, 2}) // lost
	l.ack(4, position{1, 7}) // found at {1, 0}: misplaced
	l.ack(5, position{-1, -1})
	c := newChecker([]*ledger{l})
	add := func(p int32, o int64, seq int64) { c.add("t", p, o, []byte(recordValue("p", seq, 3))) }
	add(0, 0, 1)
	add(0, 1, 2)
	add(0, 2, 1) // duplicate, and out of order
	add(1, 0, 4)
	add(1, 1, 6)                                      // not acknowledged: allowed once
	add(1, 2, 5)                                      // out of order (5 after 6), acknowledged without a position
	c.add("t", 1, 3, []byte(`"P=q;S=1;"`))            // unknown producer
	c.add("t", 1, 4, []byte(recordValue("p", 99, 0))) // never sent
	c.add("other", 0, 0, []byte(recordValue("p", 1, 0)))
	r := c.results([]*ledger{l})[0]
	want := producerResult{Name: "p", Topic: "t", Sent: 6, Acked: 5, Lost: 1, Dup: 1, Misplaced: 1, Disorder: 2, UnackedPresent: 1}
	r.Errors = nil
	if r.Name != want.Name || r.Sent != want.Sent || r.Acked != want.Acked || r.Lost != want.Lost || r.Dup != want.Dup ||
		r.Misplaced != want.Misplaced || r.Disorder != want.Disorder || r.UnackedPresent != want.UnackedPresent {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if c.foreign != 3 {
		t.Fatalf("foreign %d, want 3", c.foreign)
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		seq  int64
		ok   bool
	}{
		{"P=kgo-1;S=42;xxx", "kgo-1", 42, true},
		{`"P=http;S=7;xx"`, "http", 7, true},
		{"P=a;S=;", "", 0, false},
		{"P=a;T=1;", "", 0, false},
		{"garbage", "", 0, false},
	} {
		name, seq, ok := parseValue([]byte(tc.in))
		if name != tc.name || seq != tc.seq || ok != tc.ok {
			t.Errorf("parseValue(%q) = %q %d %v", tc.in, name, seq, ok)
		}
	}
}
