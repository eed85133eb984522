package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// growHeadroomPages lets wazero pass grows past the cap on to cappedMemory
// (wazero's own limit is the cap plus this much): a grow wazero refuses
// itself is invisible to the host, one cappedMemory refuses is recorded,
// so an out-of-memory failure is reported as such rather than as the trap
// or exit that follows it.
const growHeadroomPages = 1024

// cappedMemory backs one instance's linear memory and enforces the
// memory cap, remembering whether the guest ever asked for more.
type cappedMemory struct {
	buf     []byte
	limit   uint64
	refused atomic.Bool
}

func newCappedMemory(limitPages uint32) *cappedMemory {
	return &cappedMemory{limit: uint64(limitPages) * 65536}
}

// Allocate implements experimental.MemoryAllocator (one per instance).
func (m *cappedMemory) Allocate(capBytes, _ uint64) experimental.LinearMemory {
	m.buf = make([]byte, 0, min(capBytes, m.limit))
	return m
}

// Reallocate grows the memory to size bytes, or refuses (nil: the
// guest's memory.grow returns -1) beyond the cap.
func (m *cappedMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically (like append) so a guest growing page by page
	// does not copy its memory every time.
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	copy(grown, m.buf)
	m.buf = grown
	return grown
}

// Free implements experimental.LinearMemory.
func (m *cappedMemory) Free() { m.buf = nil }
