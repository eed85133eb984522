// Command partitioner is the Go SDK's conformance partitioner
// (wasm/conformance/README.md): keyed records go where Kafka's default
// partitioner puts them, unkeyed ones to len(value) mod partitions.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		if r.Key == nil {
			return len(r.Value) % partitions
		}
		return sdk.KafkaPartition(r.Key, partitions)
	})
}

func main() {}
