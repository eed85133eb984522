// Command sdkkeep is an SDK transform that keeps every record unchanged:
// the benchmarks' floor for the Go SDK path (decode, call, answer by
// index), without any work of the plugin's own.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		w.Keep()
		return nil
	})
}

func main() {}
