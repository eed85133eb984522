package wasm

import "syscall"

// limitData caps this process's data segment and private writable mappings (RLIMIT_DATA): past
// it allocations fail and the Go runtime dies with "out of memory".
func limitData(n int64) error {
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)})
}
