package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets this test binary stand in for `sluice plugin-compile`, as
// a broker started in-process by a test compiles plugins by running its
// own executable.
func TestMain(m *testing.M) {
	maybeCompileChild(os.Args[1:])
	os.Exit(m.Run())
}

// TestPluginCompileChild runs this binary as `sluice plugin-compile`: an
// (empty) module compiles into the cache directory, garbage exits 3 with
// the reason.
func TestPluginCompileChild(t *testing.T) {
	dir := t.TempDir()
	run := func(module string) (int, string) {
		cmd := exec.Command(os.Args[0], "plugin-compile", "--cache-dir", dir, "--memory-bytes", "1073741824")
		cmd.Stdin = strings.NewReader(module)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("\x00asm\x01\x00\x00\x00"); code != 0 {
		t.Fatalf("empty module: exit %d: %s", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Fatal("nothing written to the compilation cache")
	}
	if code, out := run("not wasm"); code != 3 || !strings.Contains(out, "invalid magic number") {
		t.Fatalf("garbage: exit %d: %s", code, out)
	}
}
