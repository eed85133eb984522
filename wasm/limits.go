package wasm

import (
	"errors"
	"fmt"
	"time"
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

var errTruncated = errors.New("module truncated")

// scanModule counts a module's functions (function imports plus the
// function section's count) and measures its largest function body. It
// never allocates in proportion to a count read from the module.
func scanModule(mod []byte) (moduleShape, error) {
	var shape moduleShape
	if len(mod) < 8 || string(mod[:8]) != wasmHeader {
		return shape, fmt.Errorf("%w: not a WebAssembly (version 1) binary", errUnsupportedWasm)
	}
	r := &wasmReader{b: mod, off: 8}
	var declared, bodies uint32
	sawCode := false
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		body := r.bytes(int(r.u32()))
		if r.err != nil {
			return shape, r.err
		}
		s := &wasmReader{b: body}
		switch id {
		case secImport:
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				s.bytes(int(s.u32())) // module
				s.bytes(int(s.u32())) // name
				switch kind := s.byte(); kind {
				case 0x00:
					s.u32()
					shape.functions++
				case 0x01:
					s.leb()
					s.limits()
				case 0x02:
					s.limits()
				case 0x03:
					s.leb()
					s.byte()
				case 0x04:
					s.byte()
					s.u32()
				default:
					s.fail(fmt.Sprintf("import kind %#x", kind))
				}
			}
		case 3: // function section: one type index per defined function
			declared = s.u32()
			// Each entry is at least one byte: a count beyond the section's
			// bytes is a lie, not a big module.
			if int64(declared) > int64(len(body)) {
				return shape, fmt.Errorf("%w: function count %d exceeds the section's %d bytes", errUnsupportedWasm, declared, len(body))
			}
		case secCode:
			sawCode = true
			bodies = s.u32()
			for i := uint32(0); i < bodies && s.err == nil; i++ {
				size := int(s.u32())
				s.bytes(size)
				shape.largestBodyBytes = max(shape.largestBodyBytes, size)
			}
		}
		if s.err != nil {
			return shape, s.err
		}
	}
	if sawCode && bodies != declared {
		return shape, fmt.Errorf("%w: %d function bodies for %d declared functions", errUnsupportedWasm, bodies, declared)
	}
	shape.functions += int(declared)
	return shape, r.err
}
