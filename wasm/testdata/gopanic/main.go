// Command gopanic is a Go SDK partitioner that panics on the key "boom",
// for the test that a plugin's panic message reaches the caller's error.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		if string(r.Key) == "boom" {
			panic("bad key " + string(r.Key))
		}
		return 0
	})
}

func main() {}
