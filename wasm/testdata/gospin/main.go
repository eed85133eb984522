// Command gospin is a Go SDK partitioner that never finishes, for the
// deadline tests: the first record's key "loop" spins in a loop, "recurse"
// makes 2^60 calls; any other key is answered (partition 0).
package main

import "github.com/sluicemq/sluice/sdk"

var sink int

//go:noinline
func recurse(n int) {
	if n == 0 {
		sink++
		return
	}
	recurse(n - 1)
	recurse(n - 1)
}

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		switch string(r.Key) {
		case "loop":
			for {
				sink++
			}
		case "recurse":
			recurse(60)
		}
		return 0
	})
}

func main() {}
