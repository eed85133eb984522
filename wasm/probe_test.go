package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/testkit/buildcache"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// loadErr loads code as hook and returns the load error (nil: loaded).
func loadErr(t *testing.T, code []byte, hook Hook) error {
	t.Helper()
	e, err := NewEngine(Config{Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, err := e.Load(context.Background(), Spec{Name: "probe", Hook: hook, Wasm: code})
	if err == nil {
		m.Close()
	}
	return err
}

// Modules that would fail every call are refused at deploy, with the fix
// in the message.
func TestDeployRefusesModulesThatCannotWork(t *testing.T) {
	mask, err := os.ReadFile(pluginPaths["mask-pii"])
	if err != nil {
		t.Fatal(err)
	}
	// A transform deployed as a partitioner and as a filter.
	for _, hook := range []Hook{HookPartitioner, HookFilter} {
		err := loadErr(t, mask, hook)
		want := "registers a transform, deployed as " + string(hook)
		if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), want) {
			t.Fatalf("mask-pii as %s: %v, want ErrInvalidModule saying %q", hook, err, want)
		}
	}
	// The right hook still loads.
	if err := loadErr(t, mask, HookTransform); err != nil {
		t.Fatalf("mask-pii as transform: %v", err)
	}

	// A Go plugin built as a command (no -buildmode=c-shared).
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmdWasm := filepath.Join(t.TempDir(), "command.wasm")
	cmdDir, cmdEnv := filepath.Join(root, "examples", "plugins", "mask-pii"), []string{"GOOS=wasip1", "GOARCH=wasm"}
	build := func() error {
		build := exec.Command("go", "build", "-o", cmdWasm, ".")
		build.Dir = cmdDir
		build.Env = append(os.Environ(), cmdEnv...)
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	}
	// From the shared test build cache when the sources are unchanged (a
	// Go build and link is seconds on a loaded machine); the key has no
	// -buildmode, so it is not the c-shared build of the same package.
	key, err := buildcache.Key(cmdDir, cmdEnv, ".")
	if err == nil {
		err = buildcache.Build(key+".wasm", cmdWasm, build)
	} else {
		err = build() // the build reports what is wrong
	}
	if err != nil {
		t.Fatalf("building a command: %v", err)
	}
	code, err := os.ReadFile(cmdWasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadErr(t, code, HookTransform); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "-buildmode=c-shared") {
		t.Fatalf("command module: %v, want ErrInvalidModule naming -buildmode=c-shared", err)
	}

	// A reactor whose answer is not this ABI's (no input count echoed,
	// as ABI v1 answered).
	src := filepath.Join(t.TempDir(), "v1.wat")
	os.WriteFile(src, []byte(`(module (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  ;; status OK and nothing else: v1 had no echoed input count.
  (func (export "sluice_filter") (param i32 i32) (result i64)
    (i32.store (i32.const 64) (i32.const 0))
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 4))))`), 0o644)
	out := filepath.Join(t.TempDir(), "v1.wasm")
	if err := wasmtest.WAT(src, out); err != nil {
		t.Fatal(err)
	}
	if code, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	if err := loadErr(t, code, HookFilter); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "rebuild it with the current SDK") {
		t.Fatalf("old-ABI module: %v, want ErrInvalidModule asking for a rebuild", err)
	}
}

// A plugin's panic message (not its stack) is in the call's error, so a
// Kafka client's POLICY_VIOLATION says what the plugin said.
func TestPanicMessageInError(t *testing.T) {
	m := load(t, "gopanic", HookPartitioner, nil, Config{})
	_, err := m.Partition(context.Background(), "t", []hooks.Record{{Key: []byte("boom"), Offset: -1}}, 3)
	if err == nil || !strings.Contains(err.Error(), "panic: bad key boom") || strings.Contains(err.Error(), "goroutine ") {
		t.Fatalf("error %v, want the panic message without the stack", err)
	}
	// The next call (a fresh instance) works.
	if parts, err := m.Partition(context.Background(), "t", []hooks.Record{{Key: []byte("ok"), Offset: -1}}, 3); err != nil || parts[0] != 0 {
		t.Fatalf("after the panic: %v %v", parts, err)
	}
}
