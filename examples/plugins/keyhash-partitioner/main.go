// Command keyhash-partitioner places each record where Kafka's default
// partitioner (the Java client's, franz-go's, librdkafka's murmur2_random)
// puts a keyed record: (murmur2(key) & 0x7fffffff) % partitions. An
// unkeyed record is hashed as the empty key, so it always lands on one
// partition; the broker calls a partitioner only for records that arrive
// without a partition (HTTP bridge records), and a client-side copy of
// this module (plugins/kgowasm, clients/js) then agrees with the broker.
// The Rust and AssemblyScript examples of the same name do exactly this
// (sdk.KafkaPartition is the same function in each SDK).
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o keyhash-partitioner.wasm .
//	sluice plugin deploy --name keyhash --hook partitioner --topic T keyhash-partitioner.wasm
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		return sdk.KafkaPartition(r.Key, partitions)
	})
}

func main() {}
