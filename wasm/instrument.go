package wasm

import (
	"errors"
	"fmt"
)

// Deadlines without wazero's WithCloseOnContextDone: that option makes
// every loop iteration of the guest call back into the Go runtime, which
// costs Go-compiled plugins (whose functions are one big loop) about 15x
// (4.4 µs instead of 0.2 µs per record for a key-hash partitioner). Instead
// Load rewrites the module once: it adds an exported mutable i32 global,
// interruptExport, and at the head of every loop checks it and traps when
// it is set. The host sets it from a timer when a call's deadline passes,
// so a runaway loop stops within one iteration at the cost of a global
// read and a branch.

// wasmHeader is the magic number and version 1 of the binary format.
const wasmHeader = "\x00asm\x01\x00\x00\x00"

// interruptExport names the global Load adds; modules must not use it.
const interruptExport = "sluice_interrupt"

var errUnsupportedWasm = errors.New("unsupported WebAssembly")

// Section ids used by the rewrite.
const (
	secImport = 2
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

// addInterruptCheck returns the module with the interrupt global and loop
// checks added.
func addInterruptCheck(mod []byte) ([]byte, error) {
	if len(mod) < 8 || string(mod[:8]) != wasmHeader {
		return nil, fmt.Errorf("%w: not a WebAssembly (version 1) binary", errUnsupportedWasm)
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	p := &wasmReader{b: mod, off: 8}
	for p.off < len(p.b) {
		id := p.byte()
		n := int(p.u32())
		secs = append(secs, section{id, p.bytes(n)})
		if p.err != nil {
			return nil, p.err
		}
	}
	importedGlobals, definedGlobals := uint32(0), uint32(0)
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, err := countImportedGlobals(s.body)
			if err != nil {
				return nil, err
			}
			importedGlobals = n
		case secGlobal:
			r := &wasmReader{b: s.body}
			definedGlobals = r.u32()
			if r.err != nil {
				return nil, r.err
			}
		}
	}
	global := importedGlobals + definedGlobals
	check := appendU32([]byte{0x23}, global)      // global.get $interrupt
	check = append(check, 0x04, 0x40, 0x00, 0x0B) // if unreachable end

	newGlobal := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B} // mut i32 = i32.const 0
	newExport := appendName(nil, interruptExport)
	newExport = append(newExport, 0x03)
	newExport = appendU32(newExport, global)

	out := append([]byte(nil), mod[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	var haveGlobal, haveExport bool
	for _, s := range secs {
		// The global section comes after import, function, table,
		// memory and tag sections and before export: add one if absent.
		if !haveGlobal && sectionAfterGlobals(s.id) {
			emit(secGlobal, appendVecEntry(nil, 0, newGlobal))
			haveGlobal = true
		}
		if !haveExport && sectionAfterExports(s.id) {
			emit(secExport, appendVecEntry(nil, 0, newExport))
			haveExport = true
		}
		switch s.id {
		case secGlobal:
			body, err := appendToVec(s.body, newGlobal)
			if err != nil {
				return nil, err
			}
			emit(s.id, body)
			haveGlobal = true
		case secExport:
			// A malformed export vector must fail here: the global added
			// after it would otherwise hide behind entries nothing reads.
			if found, err := exportsName(s.body, interruptExport); err != nil {
				return nil, err
			} else if found {
				return nil, fmt.Errorf("%w: module already exports %q", errUnsupportedWasm, interruptExport)
			}
			body, err := appendToVec(s.body, newExport)
			if err != nil {
				return nil, err
			}
			emit(s.id, body)
			haveExport = true
		case secCode:
			body, err := instrumentCode(s.body, check)
			if err != nil {
				return nil, err
			}
			emit(s.id, body)
		default:
			emit(s.id, s.body)
		}
	}
	if !haveGlobal {
		emit(secGlobal, appendVecEntry(nil, 0, newGlobal))
	}
	if !haveExport {
		emit(secExport, appendVecEntry(nil, 0, newExport))
	}
	return out, nil
}

// sectionAfterGlobals: known sections that must follow the global section.
func sectionAfterGlobals(id byte) bool { return id == secExport || sectionAfterExports(id) }

// sectionAfterExports: start, element, data count, code, data.
func sectionAfterExports(id byte) bool { return id == 8 || id == 9 || id == 12 || id == 10 || id == 11 }

func appendVecEntry(b []byte, count uint32, entry []byte) []byte {
	b = appendU32(b, count+1)
	return append(b, entry...)
}

// appendToVec adds entry to a section that is a vector.
func appendToVec(body, entry []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := appendU32(nil, n+1)
	out = append(out, body[r.off:]...)
	return append(out, entry...), nil
}

// exportsName reports whether the export section body exports name; a
// vector that does not parse to its end is an error.
func exportsName(body []byte, name string) (bool, error) {
	r := &wasmReader{b: body}
	found := false
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		got := string(r.bytes(int(r.u32())))
		r.byte()
		r.u32()
		found = found || got == name
	}
	if r.err == nil && r.off != len(body) {
		r.fail("trailing bytes in the export section")
	}
	return found, r.err
}

func countImportedGlobals(body []byte) (uint32, error) {
	r := &wasmReader{b: body}
	var globals uint32
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.leb()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: valtype, mutability
			r.leb()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Sprintf("import kind %#x", kind))
		}
	}
	return globals, r.err
}

// instrumentCode copies the code section, inserting check after every
// loop instruction's block type.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	var fn []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := int(r.u32())
		start := r.off
		end := start + size
		if size < 0 || end > len(body) {
			r.fail("function body size")
			break
		}
		fr := &wasmReader{b: body[:end], off: start}
		for locals := fr.u32(); locals > 0 && fr.err == nil; locals-- {
			fr.u32()
			fr.leb()
		}
		fn = append(fn[:0], body[start:fr.off]...)
		fn = copyInstructions(fr, fn, check)
		if fr.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, fr.err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
		r.off = end
	}
	return out, r.err
}

// copyInstructions copies instructions from r to out until the end of
// r's buffer, adding check after each loop header.
func copyInstructions(r *wasmReader, out, check []byte) []byte {
	for r.off < len(r.b) && r.err == nil {
		start := r.off
		op := r.byte()
		switch {
		case op == 0x03: // loop bt
			r.blockType()
			out = append(out, r.b[start:r.off]...)
			out = append(out, check...)
			continue
		case op == 0x02 || op == 0x04 || op == 0x06: // block, if, try
			r.blockType()
		case op == 0x1F: // try_table bt vec(catch)
			r.blockType()
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				if kind := r.byte(); kind <= 1 {
					r.u32()
				}
				r.u32()
			}
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x18: // catch, throw, rethrow, delegate
			r.u32()
		case op == 0x0C || op == 0x0D || op == 0x10 || op == 0x12 || op == 0x14 || op == 0x15 || op == 0xD5 || op == 0xD6: // br, br_if, call, return_call, call_ref, return_call_ref, br_on_null, br_on_non_null
			r.u32()
		case op == 0x0E: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
		case op == 0x1C: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.leb()
			}
		case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
			r.u32()
		case op >= 0x28 && op <= 0x3E: // loads and stores
			r.memarg()
		case op == 0x3F || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41 || op == 0x42: // i32.const, i64.const
			r.leb()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0xD0: // ref.null ht
			r.leb()
		case op == 0xD2: // ref.func
			r.u32()
		case op == 0xFC:
			r.miscImmediates()
		case op == 0xFD:
			r.simdImmediates()
		case op == 0xFE: // atomics
			if sub := r.u32(); sub == 0x03 {
				r.byte()
			} else {
				r.memarg()
			}
		case op == 0xFB:
			r.fail("GC instructions")
		}
		out = append(out, r.b[start:r.off]...)
	}
	return out
}

// wasmReader reads the binary format, recording the first error.
type wasmReader struct {
	b   []byte
	off int
	err error
}

func (r *wasmReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", errUnsupportedWasm, what, r.off)
	}
	r.off = len(r.b)
}

func (r *wasmReader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wasmReader) bytes(n int) []byte {
	if n < 0 || r.off+n > len(r.b) {
		r.fail("unexpected end")
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// leb skips a LEB128 number of any width and sign.
func (r *wasmReader) leb() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail("LEB128 too long")
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("u32 too long")
	return 0
}

func (r *wasmReader) limits() {
	flags := r.byte()
	r.leb()
	if flags&0x01 != 0 {
		r.leb()
	}
}

func (r *wasmReader) blockType() {
	switch c := r.b[min(r.off, len(r.b)-1)]; {
	case c == 0x63 || c == 0x64: // (ref null? ht)
		r.byte()
		r.leb()
	default: // 0x40, a value type (one byte) or an s33 type index
		r.leb()
	}
}

func (r *wasmReader) memarg() {
	if align := r.u32(); align&0x40 != 0 { // multi-memory: memory index
		r.u32()
	}
	r.leb()
}

func (r *wasmReader) miscImmediates() {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		r.u32()
	default:
		r.fail(fmt.Sprintf("0xFC %d", sub))
	}
}

func (r *wasmReader) simdImmediates() {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads, stores
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	}
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
