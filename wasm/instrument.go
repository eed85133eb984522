package wasm

import "github.com/sluicemq/sluice/wasm/fuel"

// Load rewrites every module once so that the guest checks its call's
// deadline itself (counted yields): package fuel holds the rewrite and
// the check, shared with the client-side partitioner (plugins/kgowasm).
// limits.go's scanner (fuel.Scan) reads modules with fuel's binary
// reader too.

// addYieldChecks returns mod with the fuel global, the sluice.yield import
// and the checks added.
func addYieldChecks(mod []byte) ([]byte, error) { return fuel.Instrument(mod) }
