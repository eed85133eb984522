// Package fuel makes a WebAssembly guest stop itself at a deadline, for
// the broker's runtime (package wasm) and the client-side partitioner
// (plugins/kgowasm) alike. It depends only on the standard library and
// wasm/abi, so client programs can use it without the broker.
//
// Deadlines by counted yields. A guest runs as native code that Go cannot
// preempt: while it spins, a garbage collection's stop-the-world waits for
// it, and so does every timer that could stop it. So the guest must return
// to Go by itself, regularly, and cheaply. wazero's WithCloseOnContextDone
// does that at every loop head, which costs Go-compiled plugins (every Go
// function is one big loop) about 10x. Instead Instrument rewrites the
// module once:
//
//   - it adds a mutable i32 global, the fuel, and an import
//     sluice.yield: () -> i32 (the host's Yield);
//   - at every function entry and every loop head it subtracts from the fuel
//     the size in bytes of that function or loop body (an upper bound of the
//     code that runs before the next check, so a huge loop body cannot run
//     long on one unit), and when the fuel goes negative it calls
//     sluice.yield and stores the fuel it returns.
//
// sluice.yield runs in Go, where the runtime may stop the goroutine for a
// collection; it checks the call's deadline (a number in the call's
// context, no timer, no lock) and traps the guest when it has passed.
// Function entries are counted too, so recursion without loops also yields.
// Adding an import shifts every defined function's index by one, so the
// rewrite renumbers calls, ref.func, exports, the start function, element
// segments, constant expressions and the name section.
package fuel

import (
	"errors"
	"fmt"

	"github.com/sluicemq/sluice/wasm/abi"
)

// wasmHeader is the magic number and version 1 of the binary format.
const wasmHeader = "\x00asm\x01\x00\x00\x00"

// Refill is the fuel sluice.yield hands back: at most about that many
// bytes of guest code run between two returns to Go. At roughly a
// nanosecond a byte at worst (most straight-line code is far faster) the
// guest yields at least every millisecond or two; a Go plugin's checks
// overestimate its work (every Go loop iteration passes its function's
// dispatch loop, charged at the function's size), so it yields more often
// than that, each yield costing about 100 ns.
const Refill = 1 << 24

// ErrUnsupported is what Instrument's errors wrap: a module that is not
// WebAssembly, is malformed, or uses what the rewrite cannot handle (GC
// proposal types, references to globals past its own).
var ErrUnsupported = errors.New("unsupported WebAssembly")

// Section ids.
const (
	secCustom = 0
	secType   = 1
	secImport = 2
	secTable  = 4
	secGlobal = 6
	secExport = 7
	secStart  = 8
	secElem   = 9
	secCode   = 10
)

// sectionRank orders the known sections as the binary format requires
// (the tag section, 13, sits between memory and global; data count, 12,
// between element and code).
func sectionRank(id byte) int {
	switch id {
	case 13:
		return 55
	case 12:
		return 95
	default:
		return int(id) * 10
	}
}

type section struct {
	id   byte
	body []byte
}

// rewriter holds what the rewrite needs to know about the module.
type rewriter struct {
	importedFuncs uint32 // the yield import gets this index; defined functions move up one
	globals       uint32 // globals before the rewrite; the fuel global gets this index
	yieldType     uint32 // type index of () -> i32
	fuelGlobal    uint32
	yieldFunc     uint32
	loopSizes     []int // scratch: body size of each loop of the function being copied
	openBlocks    []int // scratch: per open block, its loop ordinal or -1
}

// fn maps a function index of the input module to the output's.
func (w *rewriter) fn(i uint32) uint32 {
	if i >= w.importedFuncs {
		return i + 1
	}
	return i
}

// Instrument returns mod with the fuel global, the sluice.yield import and
// the checks added (see the package comment). The host must provide
// sluice.yield (Yield) before instantiating the result. mod is not
// modified.
func Instrument(mod []byte) ([]byte, error) {
	if len(mod) < 8 || string(mod[:8]) != wasmHeader {
		return nil, fmt.Errorf("%w: not a WebAssembly (version 1) binary", ErrUnsupported)
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
	w := &rewriter{}
	var types uint32
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			types, err = countFuncTypes(s.body)
		case secImport:
			w.importedFuncs, w.globals, err = countImports(s.body)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, s := range secs {
		if s.id == secGlobal {
			r := &wasmReader{b: s.body}
			w.globals += r.u32()
			if r.err != nil {
				return nil, r.err
			}
		}
	}
	w.yieldType, w.yieldFunc, w.fuelGlobal = types, w.importedFuncs, w.globals

	newType := []byte{0x60, 0x00, 0x01, 0x7F} // () -> i32
	newImport := appendName(appendName(nil, abi.ImportModule), abi.ImportYield)
	newImport = append(newImport, 0x00)
	newImport = appendU32(newImport, w.yieldType)
	newGlobal := append([]byte{0x7F, 0x01, 0x41}, appendS32(nil, Refill)...) // mut i32 = Refill
	newGlobal = append(newGlobal, 0x0B)

	out := append(make([]byte, 0, len(mod)+len(mod)/4), mod[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// Sections the rewrite needs that the module lacks are added where
	// the format puts them: before the first known section ranked after.
	missing := []section{
		{secType, appendVecEntry(nil, 0, newType)},
		{secImport, appendVecEntry(nil, 0, newImport)},
		{secGlobal, appendVecEntry(nil, 0, newGlobal)},
	}
	have := map[byte]bool{}
	for _, s := range secs {
		have[s.id] = true
	}
	addMissing := func(before byte) {
		for i, m := range missing {
			if m.body != nil && !have[m.id] && (before == 0xFF || sectionRank(m.id) < sectionRank(before)) {
				emit(m.id, m.body)
				missing[i].body = nil
			}
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			addMissing(s.id)
		}
		var body []byte
		var err error
		switch s.id {
		case secType:
			body, err = appendToVec(s.body, newType)
		case secImport:
			body, err = appendToVec(s.body, newImport)
		case secTable:
			body, err = w.rewriteTables(s.body)
		case secGlobal:
			body, err = w.rewriteGlobals(s.body, newGlobal)
		case secExport:
			body, err = w.rewriteExports(s.body)
		case secStart:
			r := &wasmReader{b: s.body}
			body = appendU32(nil, w.fn(r.u32()))
			err = r.end()
		case secElem:
			body, err = w.rewriteElements(s.body)
		case secCode:
			body, err = w.rewriteCode(s.body)
		case secCustom:
			body = w.rewriteCustom(s.body)
		default:
			body = s.body
		}
		if err != nil {
			return nil, err
		}
		if body != nil {
			emit(s.id, body)
		}
	}
	addMissing(0xFF)
	return out, nil
}

// countFuncTypes counts the type section's entries, which must all be
// plain function types (no GC proposal rec groups, whose entries define
// several types each and would make the appended type's index unknown).
func countFuncTypes(body []byte) (uint32, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if r.byte() != 0x60 {
			r.fail("type that is not a function type")
			break
		}
		for k := 0; k < 2; k++ { // params, results
			for m := r.u32(); m > 0 && r.err == nil; m-- {
				r.valType()
			}
		}
	}
	if r.err == nil {
		r.err = r.end()
	}
	return n, r.err
}

// countImports counts imported functions and globals.
func countImports(body []byte) (funcs, globals uint32, err error) {
	r := &wasmReader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
			funcs++
		case 0x01: // table: reftype, limits
			r.valType()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: valtype, mutability
			r.valType()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Sprintf("import kind %#x", kind))
		}
	}
	// Trailing bytes would end up between the section's entries and the
	// appended yield import.
	if r.err == nil {
		r.err = r.end()
	}
	return funcs, globals, r.err
}

// rewriteTables renumbers ref.func in tables' initializer expressions.
func (w *rewriter) rewriteTables(body []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		withInit := r.peek() == 0x40
		if withInit {
			r.byte()
			r.byte()
		}
		r.valType()
		r.limits()
		out = append(out, r.b[start:r.off]...)
		if withInit {
			out = w.copyConstExpr(r, out)
		}
	}
	if r.err == nil {
		r.err = r.end()
	}
	return out, r.err
}

// rewriteGlobals renumbers ref.func in initializers and appends the fuel.
func (w *rewriter) rewriteGlobals(body, fuel []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(nil, n+1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		r.valType()
		r.byte() // mutability
		out = append(out, r.b[start:r.off]...)
		out = w.copyConstExpr(r, out)
	}
	if r.err == nil {
		r.err = r.end()
	}
	return append(out, fuel...), r.err
}

// rewriteExports renumbers exported functions. A malformed vector fails
// here rather than leaving entries nothing reads.
func (w *rewriter) rewriteExports(body []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		r.bytes(int(r.u32()))
		kind := r.byte()
		out = append(out, r.b[start:r.off]...)
		idx := r.u32()
		if kind == 0x00 {
			idx = w.fn(idx)
		} else if kind == 0x03 && idx >= w.fuelGlobal {
			r.fail("export of an undefined global")
		}
		out = appendU32(out, idx)
	}
	if r.err == nil {
		r.err = r.end()
	}
	return out, r.err
}

// rewriteElements renumbers the function indices and ref.func
// expressions of every element segment encoding (flags 0 to 7).
func (w *rewriter) rewriteElements(body []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = appendU32(out, flags)
		if flags > 7 {
			r.fail(fmt.Sprintf("element segment flags %d", flags))
			break
		}
		if flags&0x02 != 0 && flags&0x01 == 0 { // active with a table index
			out = appendU32(out, r.u32())
		}
		if flags&0x01 == 0 { // active: offset expression
			out = w.copyConstExpr(r, out)
		}
		exprs := flags&0x04 != 0
		if flags&0x03 != 0 { // elemkind or reftype
			start := r.off
			if exprs {
				r.valType()
			} else {
				r.byte()
			}
			out = append(out, r.b[start:r.off]...)
		}
		m := r.u32()
		out = appendU32(out, m)
		for j := uint32(0); j < m && r.err == nil; j++ {
			if exprs {
				out = w.copyConstExpr(r, out)
			} else {
				out = appendU32(out, w.fn(r.u32()))
			}
		}
	}
	if r.err == nil {
		r.err = r.end()
	}
	return out, r.err
}

// rewriteCustom renumbers the function names of the "name" section
// (subsections 1, function names, and 2, local names; the module name is
// kept and the rest dropped); other custom sections are kept as they are.
// A name section that does not parse is dropped: it is only debug info.
func (w *rewriter) rewriteCustom(body []byte) []byte {
	r := &wasmReader{b: body}
	name := string(r.bytes(int(r.u32())))
	if r.err != nil || name != "name" {
		return body
	}
	out := append([]byte(nil), body[:r.off]...)
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := &wasmReader{b: r.bytes(int(r.u32()))}
		var nb []byte
		switch id {
		case 0:
			nb = sub.b
		case 1, 2:
			n := sub.u32()
			nb = appendU32(nil, n)
			for i := uint32(0); i < n && sub.err == nil; i++ {
				nb = appendU32(nb, w.fn(sub.u32()))
				start := sub.off
				if id == 1 {
					sub.bytes(int(sub.u32()))
				} else {
					for m := sub.u32(); m > 0 && sub.err == nil; m-- {
						sub.u32()
						sub.bytes(int(sub.u32()))
					}
				}
				nb = append(nb, sub.b[start:sub.off]...)
			}
			if sub.err == nil {
				sub.err = sub.end()
			}
		default:
			continue
		}
		if sub.err != nil {
			return nil
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(nb)))
		out = append(out, nb...)
	}
	if r.err != nil {
		return nil
	}
	return out
}

// rewriteCode copies the code section, adding the checks and renumbering
// function references in every body.
func (w *rewriter) rewriteCode(body []byte) ([]byte, error) {
	r := &wasmReader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/4), n)
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
			fr.valType()
		}
		fn = append(fn[:0], body[start:fr.off]...)
		w.measureLoops(&wasmReader{b: body[:end], off: fr.off})
		if w.entersLoop(&wasmReader{b: body[:end], off: fr.off}) && len(w.loopSizes) > 0 {
			// Every call reaches the first loop's check before anything
			// else: that check, charged for the whole body, also covers
			// the code before and after the loop. (Go compiles every
			// function to such a loop: this halves its checks per call.)
			w.loopSizes[0] = size
		} else {
			fn = w.fuelCheck(fn, size)
		}
		fn = w.copyBody(fr, fn)
		if fr.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, fr.err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
		r.off = end
	}
	if r.err == nil {
		r.err = r.end()
	}
	return out, r.err
}

// fuelCheck appends the check charging weight:
//
//	global.get $fuel; i32.const weight; i32.sub; global.set $fuel
//	global.get $fuel; i32.const 0; i32.lt_s
//	if; call $yield; global.set $fuel; end
func (w *rewriter) fuelCheck(b []byte, weight int) []byte {
	weight = max(1, min(weight, Refill))
	b = appendU32(append(b, 0x23), w.fuelGlobal)
	b = appendS32(append(b, 0x41), int32(weight))
	b = appendU32(append(b, 0x6B, 0x24), w.fuelGlobal)
	b = appendU32(append(b, 0x23), w.fuelGlobal)
	b = append(b, 0x41, 0x00, 0x48, 0x04, 0x40)
	b = appendU32(append(b, 0x10), w.yieldFunc)
	b = appendU32(append(b, 0x24), w.fuelGlobal)
	return append(b, 0x0B)
}

// measureLoops records the size in bytes of every loop of the body r
// holds (from its opcode to its end), in order of the loop opcodes.
func (w *rewriter) measureLoops(r *wasmReader) {
	w.loopSizes = w.loopSizes[:0]
	w.openBlocks = w.openBlocks[:0]
	starts := w.openBlocks // per open block: its loop ordinal, or -1
	var loopStart []int
	for r.off < len(r.b) && r.err == nil {
		start := r.off
		op := w.instruction(r, nil)
		switch op {
		case 0x02, 0x04, 0x06, 0x1F: // block, if, try, try_table
			starts = append(starts, -1)
		case 0x03:
			starts = append(starts, len(w.loopSizes))
			w.loopSizes = append(w.loopSizes, 0)
			loopStart = append(loopStart, start)
		case 0x0B, 0x18: // end, delegate
			if len(starts) == 0 {
				continue // the function's end
			}
			if k := starts[len(starts)-1]; k >= 0 {
				w.loopSizes[k] = r.off - loopStart[k]
			}
			starts = starts[:len(starts)-1]
		}
	}
	w.openBlocks = starts[:0]
	r.err = nil // copyBody reports errors
}

// entersLoop reports whether the body r holds reaches a loop header
// through straight-line code only: entering blocks, locals, globals,
// constants, no branch, call or other control flow.
func (w *rewriter) entersLoop(r *wasmReader) bool {
	for r.off < len(r.b) && r.err == nil {
		switch op := w.instruction(r, nil); {
		case op == 0x03:
			return r.err == nil
		case op == 0x01 || op == 0x02 || (op >= 0x20 && op <= 0x24) || op == 0x41 || op == 0x42:
		default:
			return false
		}
	}
	return false
}

// copyBody copies instructions from r to out until the end of r's
// buffer, renumbering function references and adding a check after every
// loop header.
func (w *rewriter) copyBody(r *wasmReader, out []byte) []byte {
	loops := 0
	for r.off < len(r.b) && r.err == nil {
		op := w.instruction(r, &out)
		if op == 0x03 && r.err == nil {
			weight := 1
			if loops < len(w.loopSizes) {
				weight = w.loopSizes[loops]
			}
			loops++
			out = w.fuelCheck(out, weight)
		}
	}
	return out
}

// copyConstExpr copies a constant expression through its end.
func (w *rewriter) copyConstExpr(r *wasmReader, out []byte) []byte {
	for r.err == nil {
		if op := w.instruction(r, &out); op == 0x0B {
			break
		}
	}
	return out
}

// instruction reads one instruction and, when out is not nil, appends it
// with function indices renumbered. It refuses references to globals the
// input module does not define (the fuel global must stay out of its
// reach).
func (w *rewriter) instruction(r *wasmReader, out *[]byte) byte {
	start := r.off
	op := r.byte()
	switch {
	case op == 0x10 || op == 0x12 || op == 0xD2: // call, return_call, ref.func
		idx := r.u32()
		if out != nil && r.err == nil {
			*out = appendU32(append(*out, op), w.fn(idx))
		}
		return op
	case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block, loop, if, try
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
	case op == 0x0C || op == 0x0D || op == 0x14 || op == 0x15 || op == 0xD5 || op == 0xD6: // br, br_if, call_ref, return_call_ref, br_on_null, br_on_non_null
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
			r.valType()
		}
	case op == 0x23 || op == 0x24: // global.get, global.set
		if g := r.u32(); g >= w.fuelGlobal && r.err == nil {
			r.fail(fmt.Sprintf("global %d out of range", g))
		}
	case op >= 0x20 && op <= 0x26: // locals, table.get/set
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
	if out != nil && r.err == nil {
		*out = append(*out, r.b[start:r.off]...)
	}
	return op
}

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

// wasmReader reads the binary format, recording the first error.
type wasmReader struct {
	b   []byte
	off int
	err error
}

func (r *wasmReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrUnsupported, what, r.off)
	}
	r.off = len(r.b)
}

// end reports trailing bytes after a section's content.
func (r *wasmReader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes in a section")
	}
	return r.err
}

func (r *wasmReader) peek() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	return r.b[r.off]
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

// valType skips a value type: one byte, or (ref null? ht) with a heap
// type that may be an s33 type index.
func (r *wasmReader) valType() {
	if c := r.byte(); c == 0x63 || c == 0x64 {
		r.leb()
	}
}

func (r *wasmReader) limits() {
	flags := r.byte()
	r.leb()
	if flags&0x01 != 0 {
		r.leb()
	}
}

func (r *wasmReader) blockType() {
	switch c := r.peek(); {
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

// appendS32 appends a signed LEB128 (i32.const's immediate).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
