// Package wasm runs Sluice plugins: WebAssembly modules that follow the
// batch ABI of package wasm/abi (docs/plugin-abi.md), executed by wazero.
//
// An Engine compiles each module once (with wazero's on-disk compilation
// cache) and a Module keeps a bounded pool of instances. Every call is one
// batch, runs under a deadline and a memory cap, and has no filesystem or
// network; a trap, timeout, out-of-memory or malformed answer fails that
// call only (an error wrapping hooks.ErrPluginFailed) and discards the
// instance it ran on.
package wasm
