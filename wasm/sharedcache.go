package wasm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
)

// SharedCache is a compilation cache several Engines use together: one
// wazero cache (so a module compiled, or read from the cache directory,
// by one engine is in memory for every other) and the instrumented bytes
// of the modules seen so far (fuel.Instrument is a pure function of the
// module, and costs about as much as the lookup it precedes).
//
// Why: a test binary starts many nodes, each with an engine of its own;
// with a cache per engine every node read and deserialized (or compiled)
// the same example modules again, most of the CPU the plugin and bridge
// tests spent. A broker has one engine and never needs this.
type SharedCache struct {
	dir string
	wz  wazero.CompilationCache

	mu           sync.Mutex
	instrumented map[[sha256.Size]byte][]byte
	bytes        int
	// pinned keeps one compiled copy of each module loaded so far (at
	// most sharedPinnedMax) on a runtime of its own: wazero drops a
	// module's code when its last user closes it, and tests stop their
	// nodes, so without a pin the next node read it from disk again.
	pinRT  wazero.Runtime
	pinned map[[sha256.Size]byte]wazero.CompiledModule
}

// sharedPinnedMax bounds the modules kept compiled (a Go plugin is some
// MiB of machine code).
const sharedPinnedMax = 64

// sharedInstrumentedMax bounds the memory the instrumented modules hold;
// past it the memo starts over.
const sharedInstrumentedMax = 256 << 20

// NewSharedCache opens a shared cache on dir (wazero's compilation cache
// directory). It lives as long as the process; Close releases it.
func NewSharedCache(dir string) (*SharedCache, error) {
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wasm: compilation cache %s: %w", dir, err)
	}
	return &SharedCache{dir: dir, wz: c, instrumented: map[[sha256.Size]byte][]byte{}, pinned: map[[sha256.Size]byte]wazero.CompiledModule{}}, nil
}

// Wazero is the wazero cache itself, for other runtimes of the process
// (a client-side partitioner) to share.
func (s *SharedCache) Wazero() wazero.CompilationCache { return s.wz }

// pin keeps code (an instrumented module an engine just compiled, so
// this compile finds it in memory) compiled until Close.
func (s *SharedCache) pin(code []byte) {
	key := sha256.Sum256(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pinned[key]; ok || len(s.pinned) >= sharedPinnedMax {
		return
	}
	ctx := context.Background()
	if s.pinRT == nil {
		s.pinRT = wazero.NewRuntimeWithConfig(ctx, runtimeConfig(s.wz, DefaultMemoryLimitPages))
	}
	if c, err := s.pinRT.CompileModule(ctx, code); err == nil {
		s.pinned[key] = c
	}
}

// Dir is the cache directory.
func (s *SharedCache) Dir() string { return s.dir }

// Close releases the pinned modules and the wazero cache; every engine
// using it must be closed.
func (s *SharedCache) Close() error {
	ctx := context.Background()
	s.mu.Lock()
	// With a compilation cache a runtime's Close leaves compiled code to
	// the compiled modules' own Close.
	for key, c := range s.pinned {
		c.Close(ctx)
		delete(s.pinned, key)
	}
	if s.pinRT != nil {
		s.pinRT.Close(ctx)
		s.pinRT = nil
	}
	s.mu.Unlock()
	return s.wz.Close(ctx)
}

// instrument is addYieldChecks, remembered by the module's hash. Callers
// must not modify the result.
func (s *SharedCache) instrument(mod []byte) ([]byte, error) {
	key := sha256.Sum256(mod)
	s.mu.Lock()
	out, ok := s.instrumented[key]
	s.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := addYieldChecks(mod)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+len(out) > sharedInstrumentedMax {
		clear(s.instrumented)
		s.bytes = 0
	}
	if _, ok := s.instrumented[key]; !ok {
		s.instrumented[key] = out
		s.bytes += len(out)
	}
	return out, nil
}
