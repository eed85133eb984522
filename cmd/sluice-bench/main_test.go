package main

import (
	"os"
	"testing"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestMain lets the test binary stand in for sluice-bench when the kfake
// broker spec re-executes "itself" (os.Executable is the test binary here),
// so tests drive a real kfake child process exactly as the bench does.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-"+serveKfakeFlag {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	testkit.Exit(m) // removes the sluice binary a test had the kit build
}
