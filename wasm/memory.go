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
// per-instance cap and the engine-wide budget, remembering whether the
// guest ever asked for more than either allows. Its capacity is always
// covered by its reservation, which was taken for the initial size before
// the instance started.
type cappedMemory struct {
	buf           []byte
	region        []byte // address space reserved up to the cap (nil: the Go heap)
	limit         uint64
	res           *reservation
	refused       atomic.Bool // over the per-instance cap
	budgetRefused atomic.Bool // over the engine-wide budget
}

func newCappedMemory(limitPages uint32, res *reservation) *cappedMemory {
	return &cappedMemory{limit: uint64(limitPages) * 65536, res: res}
}

// Allocate implements experimental.MemoryAllocator (one per instance).
// wazero reallocates to the initial size right after, which the
// reservation covers.
func (m *cappedMemory) Allocate(_, _ uint64) experimental.LinearMemory {
	if m.region = reserveRegion(m.limit); m.region != nil {
		m.buf = m.region[:0:min(uint64(m.res.bytes.Load()), m.limit)]
		return m
	}
	m.buf = make([]byte, 0, min(uint64(m.res.bytes.Load()), m.limit))
	return m
}

// Reallocate grows the memory to size bytes, or refuses (nil: the
// guest's memory.grow returns -1) beyond the cap or the budget.
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
	// does not copy its memory every time; near the budget's end, grow to
	// exactly what was asked.
	capacity := min(max(size, 2*uint64(cap(m.buf))), m.limit)
	if !m.res.grow(int64(capacity)) {
		capacity = size
		if !m.res.grow(int64(capacity)) {
			m.budgetRefused.Store(true)
			return nil
		}
	}
	if m.region != nil {
		// In place: the region spans the cap, nothing is cleared or
		// copied (the kernel zero-fills pages as the guest touches them).
		m.buf = m.region[:size:capacity]
		return m.buf
	}
	grown := make([]byte, size, capacity)
	copy(grown, m.buf)
	m.buf = grown
	return grown
}

// Free implements experimental.LinearMemory: the instance is closed, its
// memory goes back to the budget.
func (m *cappedMemory) Free() {
	m.buf = nil
	if m.region != nil {
		releaseRegion(m.region)
		m.region = nil
	}
	m.res.releaseAll()
}
