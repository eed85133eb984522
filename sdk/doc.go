// Package sdk is the Go SDK for Sluice plugins: partitioners, produce
// transforms and consume filters compiled to WebAssembly and run by the
// broker. It hides the batch ABI (docs/plugin-abi.md): the broker calls a
// plugin once per batch and the SDK calls your function once per record.
//
// A plugin registers its function in init (a reactor module's main is
// never run) and is built as a WASI reactor:
//
//	package main
//
//	import "github.com/sluicemq/sluice/sdk"
//
//	func init() {
//		sdk.Partitioner(func(r sdk.Record, partitions int) int {
//			return int(r.Key[0]) % partitions
//		})
//	}
//
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Records passed to your function alias the SDK's input buffer and are
// valid only during the call; copy what you keep. The SDK reuses its
// buffers across calls (and drops oversized ones) so guest memory stays
// bounded however long the plugin runs.
package sdk
