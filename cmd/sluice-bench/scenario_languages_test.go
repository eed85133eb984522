package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestLanguageCostTable builds every language's modules and prints the
// table: one row per language with a size and a cost for each module it
// has, and no failures.
func TestLanguageCostTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go, Rust and AssemblyScript plugins and times them")
	}
	var out bytes.Buffer
	renderLanguageCosts(&out)
	got := out.String()
	t.Log("\n" + got)
	if strings.Contains(got, "FAILED") || strings.Contains(got, "no toolchain") {
		t.Fatalf("table:\n%s", got)
	}
	cost := `[\d.]+ KB +\d+ ns \(\d+ CPU\)`
	for _, row := range []string{
		`WAT +fnv1a, hand-written +` + cost + ` +- +- +-`,
		`Go SDK +fnv1a \(wasm/testdata/keyhash\) +` + cost + ` +mask-pii \(e-mails and cards\) +` + cost,
		`Rust +fnv1a \(keyhash-partitioner hash=fnv1a\) +` + cost + ` +mask-email +` + cost,
		`AssemblyScript +murmur2 \(keyhash-partitioner\) +` + cost + ` +mask-email +` + cost,
	} {
		if !regexp.MustCompile(`(?m)^` + row + ` *$`).MatchString(got) {
			t.Errorf("no row matching %q in:\n%s", row, got)
		}
	}
}
