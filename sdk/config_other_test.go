//go:build !wasip1

package sdk

import "testing"

func TestConfig(t *testing.T) {
	testConfig["k"] = "v"
	defer delete(testConfig, "k")
	if v, ok := Config("k"); !ok || v != "v" {
		t.Fatalf("Config(k) = %q, %v", v, ok)
	}
	if v := ConfigOr("missing", "def"); v != "def" {
		t.Fatalf("ConfigOr = %q", v)
	}
}
