package testkit

import (
	"strings"
	"testing"
)

// TestEOSCheck: exactly once is ""; duplicates, missing and foreign values
// are counted and named.
func TestEOSCheck(t *testing.T) {
	var vs []string
	for i := 0; i < 5; i++ {
		vs = append(vs, EOSValue(i))
	}
	if r := EOSCheck(vs, 5); r != "" {
		t.Fatalf("exactly once: %s", r)
	}
	bad := append([]string{EOSValue(1), EOSValue(1), "rec-9999999", "x"}, vs[:3]...) // 3 and 4 missing
	r := EOSCheck(bad, 5)
	for _, want := range []string{"read 7 values for 5 input records", "1 duplicated (2 extra copies) [rec-0000001×3]",
		"2 missing [rec-0000003 rec-0000004]", `2 foreign ["rec-9999999"×1 "x"×1]`} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q: %s", want, r)
		}
	}
}
