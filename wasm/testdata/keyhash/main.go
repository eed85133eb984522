// Command keyhash is a minimal SDK partitioner (fnv1a32 of the key) used
// by the benchmarks to measure the per-record cost of the Go SDK path.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		h := uint32(2166136261)
		for _, c := range r.Key {
			h = (h ^ uint32(c)) * 16777619
		}
		return int(h % uint32(partitions))
	})
}

func main() {}
