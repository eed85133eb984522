// Package msgset converts between the pre-0.11 Kafka MessageSet formats
// (magic 0, used by 0.8/0.9 clients, and magic 1, used by 0.10 clients) and
// the v2 record batches the broker stores.
//
// ToBatch up-converts the MessageSet of a Produce v0–v2 request into one v2
// batch; FromBatches down-converts stored v2 batches into the MessageSet a
// Fetch v0–v3 response carries. Both are pure functions over byte slices: the
// package knows nothing about topics, logs or connections.
//
// The wire structures are franz-go's kmsg types (MessageV0, MessageV1,
// RecordBatch, Record); this package adds the checksums, the offset and
// timestamp rules of each format, and the codecs, including the two quirks
// old clients depend on: Kafka's xerial framing of snappy, and the wrong lz4
// frame header checksum magic 0 carries (KAFKA-3160).
package msgset
