package wasm

// manyFunctions builds a valid transform module with n extra functions of
// five code bytes each (`i32.const 1; drop`), the shape that made wazero's
// compiler spend seconds and gigabytes: n=200,000 is a 1.4 MB module.
func manyFunctions(n int) []byte {
	section := func(out []byte, id byte, body []byte) []byte {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		return append(out, body...)
	}
	mod := []byte("\x00asm\x01\x00\x00\x00")
	// Types: 0 () -> (), 1 (i32) -> i32, 2 (i32 i32) -> i64.
	mod = section(mod, 1, []byte{3,
		0x60, 0, 0,
		0x60, 1, 0x7F, 1, 0x7F,
		0x60, 2, 0x7F, 0x7F, 1, 0x7E})
	funcs := appendU32(nil, uint32(n+2))
	funcs = append(funcs, 1, 2)
	for range n {
		funcs = append(funcs, 0)
	}
	mod = section(mod, 3, funcs)
	mod = section(mod, 5, []byte{1, 0x00, 1}) // one memory, min 1 page
	exports := []byte{3}
	exports = append(appendName(exports, "memory"), 0x02, 0)
	exports = append(appendName(exports, "sluice_alloc"), 0x00, 0)
	exports = append(appendName(exports, "sluice_transform"), 0x00, 1)
	mod = section(mod, 7, exports)
	code := appendU32(nil, uint32(n+2))
	code = append(code, 5, 0, 0x41, 0x80, 0x08, 0x0B) // sluice_alloc: i32.const 1024
	code = append(code, 4, 0, 0x42, 0x00, 0x0B)       // sluice_transform: i64.const 0
	for range n {
		code = append(code, 5, 0, 0x41, 0x01, 0x1A, 0x0B)
	}
	return section(mod, 10, code)
}
