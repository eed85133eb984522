package wasm

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
)

// loopModule is a transform module whose functions loop: the rewriter's
// interesting case (a check after every loop header).
func loopModule() []byte {
	m := manyFunctions(1)
	// Replace the extra function's body (i32.const 1; drop) by
	// (loop br 0 end) padded to the same size: 03 40 0C 00 0B, plus end.
	i := bytes.LastIndex(m, []byte{5, 0, 0x41, 0x01, 0x1A, 0x0B})
	copy(m[i:], []byte{5, 0, 0x03, 0x40, 0x0B, 0x0B})
	return m
}

// FuzzInstrument feeds the Wasm rewriter and the limit scanner arbitrary
// modules: neither may panic, what the rewriter accepts keeps its
// functions (plus the yield import), and a module wazero accepts is still
// accepted once rewritten.
func FuzzInstrument(f *testing.F) {
	f.Add(manyFunctions(3))
	f.Add(loopModule())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	for _, name := range []string{"misbehave", "wat-partitioner"} {
		if code, err := os.ReadFile(pluginPaths[name]); err == nil {
			f.Add(code)
		}
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, mod []byte) {
		shape, scanErr := scanModule(mod)
		out, err := addYieldChecks(mod)
		if err != nil || scanErr != nil {
			// Load scans first: the rewriter only ever sees modules that
			// scan, but must not panic on anything.
			return
		}
		again, err := scanModule(out)
		if err != nil {
			t.Fatalf("rewritten module does not scan: %v", err)
		}
		if again.functions != shape.functions+1 {
			t.Fatalf("functions %d -> %d", shape.functions, again.functions)
		}
		if len(mod) > 1<<16 {
			return // compiling is for small inputs only
		}
		if c, err := rt.CompileModule(ctx, mod); err == nil {
			c.Close(ctx)
			c, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("the module compiles, its rewrite does not: %v", err)
			}
			c.Close(ctx)
		}
	})
}
