package bridge

import (
	"testing"
	"time"
)

// TestAppendReceivedAt: the hand-written formatter gives exactly what
// time.Format gives for the header's layout, across dates, times and
// zones (the value is always UTC).
func TestAppendReceivedAt(t *testing.T) {
	zone := time.FixedZone("X", -7*3600-30*60)
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 2, 28, 23, 30, 0, 1_000_000, zone),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	for i := 0; i < 1000; i++ {
		times = append(times, time.Unix(int64(i)*7919*3637, int64(i)*1_234_567%1e9).In(zone))
	}
	for _, tm := range times {
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		got := string(appendReceivedAt([]byte("x"), tm))
		if got != "x"+want {
			t.Fatalf("%v: got %q, want %q", tm, got, "x"+want)
		}
		if tm.Year() >= 0 && tm.Year() <= 9999 && len(want) != receivedAtLen {
			t.Fatalf("%v: %q is not %d bytes", tm, want, receivedAtLen)
		}
	}
}
