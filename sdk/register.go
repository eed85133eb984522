package sdk

// The registered hook functions; a plugin sets one in init.
var (
	partitionFn func(Record, int) int
	transformFn func(Record, Writer) error
	filterFn    func(Record, Reader) (Record, bool, bool) // record, keep, rewritten
)

// Partitioner registers fn as the plugin's partitioner: it returns a
// partition in [0, partitions) for each record.
func Partitioner(fn func(r Record, partitions int) int) { partitionFn = fn }

// Transform registers fn as the plugin's produce transform. fn is called
// per record and writes what to append (Keep, Write) and to emit; an
// error refuses the whole batch (see Reject and Policy).
func Transform(fn func(r Record, w Writer) error) { transformFn = fn }

// Filter registers fn as the plugin's consume filter: a record is shown
// to reader when fn returns true. Offsets are kept.
func Filter(fn func(r Record, reader Reader) bool) {
	filterFn = func(r Record, rd Reader) (Record, bool, bool) { return r, fn(r, rd), false }
}

// FilterMap registers fn as a consume filter that may also rewrite what
// reader sees: fn returns the record to show (its offset is kept) and
// whether to show it.
func FilterMap(fn func(r Record, reader Reader) (Record, bool)) {
	filterFn = func(r Record, rd Reader) (Record, bool, bool) {
		out, keep := fn(r, rd)
		return out, keep, true
	}
}

// Topic is the topic of the batch being processed.
func Topic() string { return current.Topic }

// Partition is the partition of the batch being processed (-1 in a
// partitioner).
func Partition() int32 { return current.Partition }
