package wasm

import "syscall"

// reserveRegion maps limit bytes of address space for one instance's
// linear memory, which then grows in place up to its cap. On the Go heap
// every growth past the capacity cleared a new buffer and copied the
// memory into it: in the broker's profile of `make bench` (plugins) that
// was 10% of the broker's CPU (a Go plugin grows its memory arena by
// arena, and every deploy and every new instance starts small again).
// Pages are committed only when the guest touches them; the region asks
// for transparent huge pages (a plugin walks megabytes of memory per
// batch). The budget and cap accounting is unchanged. nil: the platform
// refused, use the Go heap.
func reserveRegion(limit uint64) []byte {
	if limit == 0 || limit > 1<<32 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(limit), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	const madvHugepage = 14
	_ = syscall.Madvise(b, madvHugepage) // refused where THP is off: harmless
	return b
}

// releaseRegion unmaps a region once its instance is closed (nothing
// reads guest memory after that).
func releaseRegion(b []byte) { _ = syscall.Munmap(b) }
