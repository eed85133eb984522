package wasmtest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordedWAT: every recording is named by its source's hash and is
// exactly what wat2wasm makes of that source.
func TestRecordedWAT(t *testing.T) {
	if testing.Short() {
		t.Skip("needs wat2wasm (skipped by -short)")
	}
	entries, err := fs.Glob(recorded, "testdata/wat/*.wat")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, name := range entries {
		source, _ := recorded.ReadFile(name)
		want, err := recorded.ReadFile(strings.TrimSuffix(name, ".wat") + ".wasm")
		if err != nil {
			t.Fatalf("%s: no .wasm beside it", name)
		}
		if key := watKey(source); filepath.Base(name) != key+".wat" {
			t.Fatalf("%s: source hash is %s", name, key)
		}
		src := filepath.Join(t.TempDir(), "m.wat")
		if err := os.WriteFile(src, source, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "m.wasm")
		if err := run(exec.Command("wat2wasm", src, "-o", out)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
			t.Fatalf("%s: wat2wasm makes %d bytes, the recording has %d: re-record (testdata/wat/README)", name, len(got), len(want))
		}
	}
}

// TestWATFilesRecorded: every .wat file in the repository has a
// recording, so -short runs without wabt assemble them all.
func TestWATFilesRecorded(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || path == filepath.Join(root, "wasm", "wasmtest", "testdata", "wat")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".wat") {
			return nil
		}
		n++
		source, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := recorded.ReadFile("testdata/wat/" + watKey(source) + ".wasm"); err != nil {
			t.Errorf("%s has no recording: re-record (wasm/wasmtest/testdata/wat/README)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no .wat files")
	}
}

// TestWATFromRecording: under -short without wat2wasm a known
// source is served from its recording, an unknown one is refused.
func TestWATFromRecording(t *testing.T) {
	entries, _ := fs.Glob(recorded, "testdata/wat/*.wat")
	source, _ := recorded.ReadFile(entries[0])
	want, _ := recorded.ReadFile(strings.TrimSuffix(entries[0], ".wat") + ".wasm")
	dir := t.TempDir()
	src, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	os.WriteFile(src, source, 0o644)
	if err := fromRecording(src, out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatal("served module differs from the recording")
	}
	os.WriteFile(src, append(source, '\n'), 0o644)
	if err := fromRecording(src, out); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("edited source: %v, want ErrNotRecorded", err)
	}
}
