package main

import (
	"os"
	"testing"
)

// TestMain lets this test binary stand in for `sluice plugin-compile`, as
// a broker started in-process by a test compiles plugins by running its
// own executable.
func TestMain(m *testing.M) {
	maybeCompileChild(os.Args[1:])
	os.Exit(m.Run())
}
