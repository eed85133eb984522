package wasm

import (
	"fmt"
	"time"

	"github.com/sluicemq/sluice/wasm/fuel"
)

// Module limits. A module is checked against them by reading its section
// headers and vector counts (cheap: no decoding of function bodies) before
// anything compiles it, because wazero's compiler spends time and memory
// superlinearly in a module's shape: a 1.8 MB module of 200,000 tiny
// functions took 5.5 s and 2.2 GB to compile.
const (
	// DefaultMaxModuleBytes caps a module's size, as the admin API's
	// upload limit does. Go plugins built with the SDK are 2–4 MB.
	DefaultMaxModuleBytes = 64 << 20
	// DefaultMaxFunctions caps defined plus imported functions. A Go
	// wasip1 plugin has about 2,000 (the examples: 1,870 to 2,240).
	DefaultMaxFunctions = 50_000
	// DefaultMaxFunctionBytes caps one function body: a single huge
	// function is the other way to make the compiler's register allocator
	// and SSA passes blow up.
	DefaultMaxFunctionBytes = 4 << 20
	// DefaultCompileTimeout bounds one compile.
	DefaultCompileTimeout = time.Minute
	// DefaultCompileMemoryBytes is the data limit (RLIMIT_DATA: heap and
	// private writable mappings, which runs ahead of resident memory) of
	// the compile child process (see Config.CompileCommand). Compiling a
	// 3 MB Go plugin peaks at about 75 MB resident and needs a limit of
	// about 160 MiB.
	DefaultCompileMemoryBytes = 1 << 30
)

// ErrModuleLimit marks a module refused for its size or shape, or whose
// compile ran out of the time or memory allowed. It wraps
// ErrInvalidModule.
var ErrModuleLimit = fmt.Errorf("%w: over the plugin module limits", ErrInvalidModule)

// moduleShape is what scanModule learns about a module.
type moduleShape struct {
	functions        int // imported + defined
	largestBodyBytes int
}

// checkModuleLimits refuses mod when it is over cfg's limits, reading
// only section headers and counts.
func checkModuleLimits(mod []byte, cfg Config) (moduleShape, error) {
	if len(mod) > cfg.MaxModuleBytes {
		return moduleShape{}, fmt.Errorf("%w: module is %d bytes, over the limit of %d", ErrModuleLimit, len(mod), cfg.MaxModuleBytes)
	}
	shape, err := scanModule(mod)
	if err != nil {
		return shape, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	switch {
	case shape.functions > cfg.MaxFunctions:
		return shape, fmt.Errorf("%w: module has %d functions, over the limit of %d", ErrModuleLimit, shape.functions, cfg.MaxFunctions)
	case shape.largestBodyBytes > cfg.MaxFunctionBytes:
		return shape, fmt.Errorf("%w: a function body is %d bytes, over the limit of %d", ErrModuleLimit, shape.largestBodyBytes, cfg.MaxFunctionBytes)
	}
	return shape, nil
}

// scanModule counts a module's functions and measures its largest function
// body (fuel.Scan: the binary reader is fuel's, shared with the rewrite).
func scanModule(mod []byte) (moduleShape, error) {
	s, err := fuel.Scan(mod)
	return moduleShape{functions: s.Functions, largestBodyBytes: s.LargestBodyBytes}, err
}
