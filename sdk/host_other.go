//go:build !wasip1

package sdk

import (
	"embed"
	"maps"

	"github.com/sluicemq/sluice/wasm/abi"
)

// This file exists only in native (host) builds: plugins built for
// wasip1 carry none of it.

// Source is the SDK's own source (this package and sdktest), which
// `sluice plugin new` writes into a new project so it builds offline and
// outside this repository. A package cannot embed files above its
// directory, so the CLI embeds the rest (wasm/abi) itself.
//
//go:embed *.go sdktest/*.go
var Source embed.FS

// HostCall runs the registered hook ("partitioner", "transform" or
// "filter") natively over one ABI batch (docs/plugin-abi.md) and returns
// the answer exactly as the module would. It is for package sdktest,
// which tests plugins with `go test`; plugins never call it.
func HostCall(hook string, batch []byte) []byte {
	var out []byte
	switch hook {
	case "partitioner":
		out = handlePartition(batch)
	case "transform":
		out = handleTransform(batch)
	case "filter":
		out = handleFilter(batch)
	default:
		return append([]byte(nil), refuse(abi.StatusRejected, "sdk: unknown hook "+hook)...)
	}
	// The answer lives in space the next call reuses: hand out a copy.
	return append([]byte(nil), out...)
}

// SetHostConfig replaces what Config returns in native builds and returns
// a function that restores the previous configuration (for sdktest).
func SetHostConfig(cfg map[string]string) (restore func()) {
	prev := testConfig
	testConfig = maps.Clone(cfg)
	if testConfig == nil {
		testConfig = map[string]string{}
	}
	return func() { testConfig = prev }
}
