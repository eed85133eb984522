// Package hostabi is the host side of the plugin ABI that the broker's
// runtime (package wasm) and the client-side partitioner (plugins/kgowasm)
// share: the export checks, the "sluice" host module and the plugin
// stdout/stderr line logger. It imports only wazero, the standard library
// and wasm/abi, so a client program that embeds a plugin pulls in no
// broker code; what differs between the two sides (the yield function,
// the error a bad module wraps, log rate limits) comes in as parameters.
package hostabi

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/sluicemq/sluice/wasm/abi"
)

// CheckExports verifies the ABI exports a plugin for one hook needs:
// sluice_alloc, the hook's function hookExport, both with the ABI's
// signatures, and the memory. Errors wrap invalid; kind names the plugin in
// the missing-export message ("a partitioner plugin needs ...").
func CheckExports(c wazero.CompiledModule, hookExport, kind string, invalid error) error {
	fns := c.ExportedFunctions()
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	for _, want := range []struct {
		name            string
		params, results []api.ValueType
	}{
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
		{hookExport, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	} {
		f, ok := fns[want.name]
		if !ok {
			return fmt.Errorf("%w: missing export %q (%s needs %s and %s)", invalid, want.name, kind, abi.ExportAlloc, hookExport)
		}
		if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
			return fmt.Errorf("%w: export %q has the wrong signature", invalid, want.name)
		}
	}
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("%w: missing exported memory %q", invalid, abi.ExportMemory)
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// InstantiateHostModule exports the "sluice" host functions to the plugins
// of rt: config_get, answering from a copy of config (the plugin's
// deploy-time configuration), and yield, which the deadline checks package
// fuel adds call; each side brings its own yield (() -> i32).
func InstantiateHostModule(ctx context.Context, rt wazero.Runtime, config map[string]string, yield api.GoFunc) error {
	cfg := make(map[string]string, len(config))
	for k, v := range config {
		cfg[k] = v
	}
	i32 := api.ValueTypeI32
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
			stack[0] = uint64(uint32(ConfigGet(mod.Memory(), cfg,
				uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]))))
		}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		Export(abi.ImportConfigGet).
		NewFunctionBuilder().
		WithGoFunction(yield, nil, []api.ValueType{i32}).
		Export(abi.ImportYield).
		Instantiate(ctx)
	return err
}

// ConfigGet implements config_get(keyPtr, keyLen, bufPtr, bufCap) -> len
// or -1 when unset; when len > bufCap nothing is copied. Out-of-bounds
// pointers read as an unset key (the plugin's own bug, not a host crash).
func ConfigGet(mem api.Memory, cfg map[string]string, keyPtr, keyLen, bufPtr, bufCap uint32) int32 {
	key, ok := mem.Read(keyPtr, keyLen)
	if !ok {
		return -1
	}
	v, ok := cfg[string(key)]
	if !ok {
		return -1
	}
	if uint32(len(v)) <= bufCap && !mem.Write(bufPtr, []byte(v)) {
		return -1
	}
	return int32(len(v))
}
