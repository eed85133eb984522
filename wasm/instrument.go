package wasm

import (
	"fmt"

	"github.com/sluicemq/sluice/wasm/fuel"
)

// Load rewrites every module once so that the guest checks its call's
// deadline itself (counted yields): package fuel holds the rewrite and
// the check, shared with the client-side partitioner (plugins/kgowasm).
// What stays here is the little binary reading limits.go's scanner needs
// before anything compiles or rewrites a module.

// addYieldChecks returns mod with the fuel global, the sluice.yield import
// and the checks added.
func addYieldChecks(mod []byte) ([]byte, error) { return fuel.Instrument(mod) }

// wasmHeader is the magic number and version 1 of the binary format.
const wasmHeader = "\x00asm\x01\x00\x00\x00"

// errUnsupportedWasm is fuel's, so a module refused by the scanner or by
// the rewrite fails alike.
var errUnsupportedWasm = fuel.ErrUnsupported

// Section ids the scanner reads.
const (
	secImport = 2
	secCode   = 10
)

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
