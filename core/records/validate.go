package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
)

// The append validator: what Kafka's LogValidator checks of a batch from a
// client before it is stored, so that every stored batch decodes to what
// its header says (readers may then trust it within their budgets).

// ErrInvalidRecord is wrapped by validation failures Kafka reports as
// INVALID_RECORD (well-formed bytes a client may not send); structural
// failures wrap ErrCorrupt (CORRUPT_MESSAGE).
var ErrInvalidRecord = errors.New("records: invalid record")

// ValidationError says why a batch was refused. It matches ErrCorrupt or
// ErrInvalidRecord (and ErrTooLarge for a decompression bomb).
type ValidationError struct {
	Kind   error // ErrCorrupt or ErrInvalidRecord
	Reason string
	Err    error // the cause, if any (ErrTooLarge, a codec error)
}

func (e *ValidationError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap exposes the kind and the cause.
func (e *ValidationError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func corruptf(format string, args ...any) error {
	return &ValidationError{Kind: ErrCorrupt, Reason: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error {
	return &ValidationError{Kind: ErrInvalidRecord, Reason: fmt.Sprintf(format, args...)}
}

// ValidateOptions are the topic settings validation applies.
type ValidateOptions struct {
	// DecompressBudget bounds what a compressed batch may inflate to
	// (see BudgetFor); 0 means DefaultDecompressBudget.
	DecompressBudget int
	// RequireKeys: the topic is compacted (cleanup.policy has compact),
	// so every record needs a key.
	RequireKeys bool
}

// v2 batch header layout (see core/storage for the stored form).
const (
	batchHeaderLen    = 61
	posLength         = 8
	posMagic          = 16
	posAttributes     = 21
	posLastOffsetDel  = 23
	posFirstTimestamp = 27
	posMaxTimestamp   = 35
	posCRC            = 17
	posProducerID     = 43
	posBaseSequence   = 53
	posNumRecords     = 57

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	// attrKnown: codec, timestamp type, transactional, control, and the
	// delete-horizon flag (KIP-534) compaction sets.
	attrKnown = 0x7f

	// minRecordBody: attributes, timestamp delta, offset delta, key
	// length, value length and header count, one byte each at least.
	minRecordBody = 6
	// minHeader: key length and value length varints.
	minHeader = 2
)

// scratchPool holds decompression buffers for validation; the decoded
// bytes are only looked at, never kept.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledScratch: larger buffers (one big batch) are not kept.
const maxPooledScratch = 4 << 20

// Validate checks one whole v2 batch from a client whose length and CRC
// the caller already checked (storage.ValidateBatch): magic and
// attributes, producer fields, that the record count and last offset delta
// agree, and, decompressing within the budget, that exactly that many
// well-formed records fill the batch with offset deltas 0..n-1, timestamps
// whose maximum is the header's, non-negative header counts and key
// lengths, and keys where the topic needs them. It allocates nothing for
// uncompressed batches and reuses pooled buffers for compressed ones.
//
// A CreateTime batch whose header's max timestamp is not its records'
// largest gets the records' value written in (and its CRC recomputed), as
// Kafka's LogValidator does: time indexes and retention then go by what
// the records say.
func Validate(batch []byte, o ValidateOptions) error {
	if len(batch) < batchHeaderLen {
		return corruptf("batch of %d bytes is shorter than its header", len(batch))
	}
	be := binary.BigEndian
	if m := batch[posMagic]; m != 2 {
		return corruptf("magic %d, want 2", m)
	}
	if int(be.Uint32(batch[posLength:]))+12 != len(batch) {
		return corruptf("length field disagrees with the batch size")
	}
	attrs := be.Uint16(batch[posAttributes:])
	codec := Codec(attrs & attrCodecMask)
	switch {
	case attrs&^attrKnown != 0:
		return invalidf("unknown attribute bits %#x", attrs)
	case codec > Zstd:
		return corruptf("unknown compression codec %d", codec)
	case attrs&attrControl != 0:
		return invalidf("clients may not produce control batches")
	}
	pid := int64(be.Uint64(batch[posProducerID:]))
	seq := int32(be.Uint32(batch[posBaseSequence:]))
	switch {
	case attrs&attrTransactional != 0 && pid < 0:
		return invalidf("transactional batch without a producer id")
	case pid >= 0 && seq < 0:
		return invalidf("idempotent batch with base sequence %d", seq)
	}
	count := int32(be.Uint32(batch[posNumRecords:]))
	lastDelta := int32(be.Uint32(batch[posLastOffsetDel:]))
	switch {
	case count <= 0:
		return invalidf("batch declares %d records", count)
	case lastDelta != count-1:
		return invalidf("last offset delta %d disagrees with the record count %d", lastDelta, count)
	}
	data := batch[batchHeaderLen:]
	// Every record takes at least its length byte and body: a count the
	// bytes cannot hold is refused before anything is decompressed.
	if codec == None && int64(count)*(1+minRecordBody) > int64(len(data)) {
		return corruptf("%d records cannot fit in %d bytes", count, len(data))
	}
	if codec != None {
		budget := o.DecompressBudget
		if budget <= 0 {
			budget = DefaultDecompressBudget
		}
		bp := scratchPool.Get().(*[]byte)
		defer func() {
			if cap(*bp) <= maxPooledScratch {
				scratchPool.Put(bp)
			}
		}()
		out, err := Decompress((*bp)[:0], codec, data, budget)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return &ValidationError{Kind: ErrInvalidRecord, Reason: fmt.Sprintf("batch decompresses to more than %d bytes", budget), Err: err}
			}
			return &ValidationError{Kind: ErrCorrupt, Reason: "cannot decompress " + codecName(codec), Err: err}
		}
		if cap(out) > cap(*bp) {
			*bp = out[:0]
		}
		data = out
	}
	first := int64(be.Uint64(batch[posFirstTimestamp:]))
	maxTS := int64(be.Uint64(batch[posMaxTimestamp:]))
	seen, err := walkRecords(data, count, o.RequireKeys, first)
	if err != nil {
		return err
	}
	// With LogAppendTime the broker sets the timestamps; otherwise the
	// header's max timestamp is what time indexes and retention use, so
	// it must be the records'.
	if attrs&attrLogAppendTime == 0 && seen != maxTS {
		be.PutUint64(batch[posMaxTimestamp:], uint64(seen))
		be.PutUint32(batch[posCRC:], crc32.Checksum(batch[posAttributes:], castagnoli))
	}
	return nil
}

func codecName(c Codec) string {
	switch c {
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "none"
}

// walkRecords checks that data holds exactly count well-formed records
// and returns their largest timestamp.
func walkRecords(data []byte, count int32, requireKeys bool, first int64) (int64, error) {
	maxTS := int64(-1 << 63)
	for i := int32(0); i < count; i++ {
		length, n := Varint32(data)
		if n <= 0 || length < minRecordBody || length > int64(len(data)-n) {
			return 0, corruptf("record %d of %d: bad or overrunning length", i, count)
		}
		body := data[n : n+int(length)]
		data = data[n+int(length):]
		ts, err := checkRecord(body, i, requireKeys)
		if err != nil {
			return 0, err
		}
		maxTS = max(maxTS, first+ts)
	}
	if len(data) != 0 {
		return 0, corruptf("%d bytes after the batch's %d records", len(data), count)
	}
	return maxTS, nil
}

// checkRecord checks one record body (after its length) and returns its
// timestamp delta.
func checkRecord(b []byte, i int32, requireKeys bool) (int64, error) {
	bad := func(what string) (int64, error) {
		return 0, corruptf("record %d: %s", i, what)
	}
	b = b[1:] // attributes: unused in v2
	tsDelta, n := varint64(b)
	if n <= 0 {
		return bad("bad timestamp delta")
	}
	b = b[n:]
	off, n := Varint32(b)
	if n <= 0 {
		return bad("bad offset delta")
	}
	b = b[n:]
	if off != int64(i) {
		return 0, invalidf("record %d has offset delta %d", i, off)
	}
	keyLen, n := Varint32(b)
	if n <= 0 || keyLen < -1 || keyLen > int64(len(b)-n) {
		return bad("bad key length")
	}
	if keyLen < 0 && requireKeys {
		return 0, invalidf("record %d has no key; compacted topics need one", i)
	}
	b = b[n+max(int(keyLen), 0):]
	valLen, n := Varint32(b)
	if n <= 0 || valLen < -1 || valLen > int64(len(b)-n) {
		return bad("bad value length")
	}
	b = b[n+max(int(valLen), 0):]
	headers, n := Varint32(b)
	if n <= 0 || headers < 0 || headers > int64(len(b)-n)/minHeader {
		return bad("bad header count")
	}
	b = b[n:]
	for h := int64(0); h < headers; h++ {
		kl, n := Varint32(b)
		if n <= 0 || kl < 0 || kl > int64(len(b)-n) {
			return bad("bad header key length")
		}
		b = b[n+int(kl):]
		vl, n := Varint32(b)
		if n <= 0 || vl < -1 || vl > int64(len(b)-n) {
			return bad("bad header value length")
		}
		b = b[n+max(int(vl), 0):]
	}
	if len(b) != 0 {
		return bad(fmt.Sprintf("%d bytes after its last field", len(b)))
	}
	return tsDelta, nil
}

// Varint32 reads a zig-zag varint of at most 5 bytes (Kafka's varint; a
// longer encoding is refused by Java and franz-go readers alike, so it
// must not be stored). n <= 0 on error.
func Varint32(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		// One byte: most lengths, deltas and counts (fast path).
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	v, n := binary.Varint(b[:min(len(b), 5)])
	if n <= 0 || v != int64(int32(v)) {
		return 0, 0
	}
	return v, n
}

// varint64 reads a zig-zag varint of at most 10 bytes (Kafka's varlong).
func varint64(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return binary.Varint(b)
}
