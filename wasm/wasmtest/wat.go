package wasmtest

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// recorded holds wat2wasm's output for the WAT sources the tests
// assemble, so that `go test -short` runs them on a machine with only Go
// (no wabt): testdata/wat/<sha256 of the source>.wasm, with the source
// beside it as .wat (TestRecordedWAT checks each pair against wat2wasm).
// A recording is found by the source's content, so an edited source is
// never served a stale module.
//
//go:embed testdata/wat
var recorded embed.FS

// recordEnv names the variable that makes WAT record what wat2wasm
// produces into testdata/wat: after adding or changing a WAT source, run
//
//	SLUICE_WAT_RECORD=1 go test -count=1 ./wasm/... ./plugins/...
//
// with wabt installed, and commit the new files.
const recordEnv = "SLUICE_WAT_RECORD"

// ErrNotRecorded: under -short without wat2wasm, a WAT source that has no
// recording.
var ErrNotRecorded = errors.New("wasmtest: no recorded assembly of this WAT source")

// WAT assembles a WebAssembly text file with wat2wasm (Debian package
// wabt; scripts/install-plugin-test-deps.sh installs it). In a test run
// with -short and no wat2wasm, it uses the recorded assembly of the same
// source instead; without -short a missing wat2wasm fails, as any missing
// test tool does.
func WAT(src, out string) error {
	if _, err := exec.LookPath("wat2wasm"); err != nil && shortTest() {
		return fromRecording(src, out)
	}
	if err := run(exec.Command("wat2wasm", src, "-o", out)); err != nil {
		return err
	}
	if os.Getenv(recordEnv) != "" {
		return record(src, out)
	}
	return nil
}

func watKey(source []byte) string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:])
}

func fromRecording(src, out string) error {
	source, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	key := watKey(source)
	code, err := recorded.ReadFile("testdata/wat/" + key + ".wasm")
	if err != nil {
		return fmt.Errorf("%w: %s (sha256 %s); with wabt installed run %s=1 go test ./wasm/... ./plugins/...", ErrNotRecorded, src, key, recordEnv)
	}
	return os.WriteFile(out, code, 0o644)
}

func record(src, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	source, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	code, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	base := filepath.Join(root, "wasm", "wasmtest", "testdata", "wat", watKey(source))
	if err := os.WriteFile(base+".wat", source, 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".wasm", code, 0o644)
}

// shortTest reports whether this is a test binary run with -short. It
// reads the command line itself: test mains assemble modules in TestMain,
// before the testing flags are parsed (testing.Short would panic).
func shortTest() bool {
	if !testing.Testing() {
		return false
	}
	for _, a := range os.Args[1:] {
		a = strings.TrimPrefix(a, "-")
		switch a {
		case "-test.short", "-test.short=true", "test.short", "test.short=true":
			return true
		}
	}
	return false
}
