package fuel

import "fmt"

// Shape is what Scan learns about a module.
type Shape struct {
	Functions        int // imported + defined
	LargestBodyBytes int
}

// Scan counts a module's functions (function imports plus the function
// section's count) and measures its largest function body, reading only
// section headers and counts (no function body is decoded), so the broker
// can refuse a module over its limits before anything compiles or
// rewrites it. It never allocates in proportion to a count read from the
// module. Its errors wrap ErrUnsupported; on an error Shape holds what was
// counted so far.
func Scan(mod []byte) (Shape, error) {
	var shape Shape
	if len(mod) < 8 || string(mod[:8]) != wasmHeader {
		return shape, fmt.Errorf("%w: not a WebAssembly (version 1) binary", ErrUnsupported)
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
					shape.Functions++
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
				return shape, fmt.Errorf("%w: function count %d exceeds the section's %d bytes", ErrUnsupported, declared, len(body))
			}
		case secCode:
			sawCode = true
			bodies = s.u32()
			for i := uint32(0); i < bodies && s.err == nil; i++ {
				size := int(s.u32())
				s.bytes(size)
				shape.LargestBodyBytes = max(shape.LargestBodyBytes, size)
			}
		}
		if s.err != nil {
			return shape, s.err
		}
	}
	if sawCode && bodies != declared {
		return shape, fmt.Errorf("%w: %d function bodies for %d declared functions", ErrUnsupported, bodies, declared)
	}
	shape.Functions += int(declared)
	return shape, r.err
}
