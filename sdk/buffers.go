package sdk

import "github.com/sluicemq/sluice/wasm/abi"

// Guest memory is never returned to the host, so every buffer the SDK
// keeps between calls is reused rather than reallocated, grows
// geometrically (a stream of slowly growing batches must not leave a trail
// of slightly smaller dead buffers behind) and is dropped once it is far
// larger than the batches it serves.

// Buffers larger than this are dropped when a batch needs less than a
// quarter of them, so one huge batch does not pin guest memory for the
// plugin's lifetime.
const keepBufferBytes = 4 << 20

var (
	inBuf   []byte   // the host writes each batch here (sluice_alloc)
	outBuf  []byte   // the answer; valid until the next call
	current abi.Meta // the batch being processed
	headers []Header // reused header space of the record being handled
	reader  abi.Reader
)

// reuse returns buf resliced to n bytes, reallocated when it is too small
// or oversized for n.
func reuse(buf []byte, n int) []byte {
	if n <= cap(buf) && (cap(buf) <= keepBufferBytes || n > cap(buf)/4) {
		return buf[:n]
	}
	size := max(n, 4096)
	if n > cap(buf) {
		size = max(size, min(2*cap(buf), keepBufferBytes))
	}
	return make([]byte, n, size)
}

// allocInput returns a buffer of n bytes for the host's next batch.
func allocInput(n int) []byte {
	inBuf = reuse(inBuf, n)
	return inBuf
}

// resetOutput starts a new answer in the previous one's space.
func resetOutput(sizeHint int) []byte {
	outBuf = reuse(outBuf, sizeHint)
	return outBuf[:0]
}
