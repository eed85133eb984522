// Command sdkwrite is an SDK transform that writes every record back as a
// new record: the benchmarks' floor for a transform that rewrites each
// record (the answer carries every record in full).
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		w.Write(r)
		return nil
	})
}

func main() {}
