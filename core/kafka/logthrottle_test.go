package kafka

import (
	"testing"
	"time"
)

// TestLogThrottle: the first occurrence logs; those within the second
// after it are counted into the next line.
func TestLogThrottle(t *testing.T) {
	var lt logThrottle
	if n, due := lt.note(); !due || n != 1 {
		t.Fatalf("first: n=%d due=%v", n, due)
	}
	for i := range 3 {
		if _, due := lt.note(); due {
			t.Fatalf("note %d within the second logged", i+2)
		}
	}
	lt.logged = lt.logged.Add(-time.Second)
	if n, due := lt.note(); !due || n != 4 {
		t.Fatalf("after a second: n=%d due=%v, want 4 true", n, due)
	}
}
