//go:build wasip1

package sdk

import "unsafe"

// hostConfigGet copies the value of key into buf and returns its length,
// or -1 when the key is not configured. A length above bufCap means buf
// was too small and nothing was copied.
//
//go:wasmimport sluice config_get
func hostConfigGet(keyPtr, keyLen, bufPtr, bufCap uint32) int32

func configGet(key string) (string, bool) {
	buf := make([]byte, 256)
	for {
		n := hostConfigGet(uint32(uintptr(unsafe.Pointer(unsafe.StringData(key)))), uint32(len(key)),
			uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))), uint32(len(buf)))
		switch {
		case n < 0:
			return "", false
		case int(n) <= len(buf):
			return string(buf[:n]), true
		default:
			buf = make([]byte, n)
		}
	}
}
