package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/sluicemq/sluice/wasm/abi"
)

// Hook is the kind of plugin a module is deployed as.
type Hook string

// The three hooks.
const (
	HookPartitioner Hook = "partitioner"
	HookTransform   Hook = "transform"
	HookFilter      Hook = "filter"
)

// ParseHook validates a hook name.
func ParseHook(s string) (Hook, error) {
	switch h := Hook(s); h {
	case HookPartitioner, HookTransform, HookFilter:
		return h, nil
	}
	return "", fmt.Errorf("unknown hook %q (want partitioner, transform or filter)", s)
}

// export is the module function the hook calls.
func (h Hook) export() string {
	switch h {
	case HookPartitioner:
		return abi.ExportPartition
	case HookTransform:
		return abi.ExportTransform
	default:
		return abi.ExportFilter
	}
}

// Defaults of Config.
const (
	DefaultTimeout          = 2 * time.Second
	DefaultMemoryLimitPages = 1024 // 64 MiB
	startTimeout            = 10 * time.Second
)

// Config tunes an Engine. Zero values take the defaults.
type Config struct {
	// CacheDir holds wazero's compilation cache so modules compile once
	// across restarts; "" keeps it in memory.
	CacheDir string
	// Timeout bounds one call (one batch). Default 2s.
	Timeout time.Duration
	// MemoryLimitPages caps each instance's memory in 64 KiB pages.
	// Default 1024 (64 MiB).
	MemoryLimitPages uint32
	// PoolSize is how many idle instances a module keeps. Default
	// 2*GOMAXPROCS.
	PoolSize int
	// Logger receives plugin stdout/stderr and lifecycle logs.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Engine compiles and loads plugin modules.
type Engine struct {
	cfg   Config
	cache wazero.CompilationCache
}

// NewEngine creates an engine.
func NewEngine(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	return &Engine{cfg: cfg, cache: cache}, nil
}

// Close releases the compilation cache (modules must be closed first).
func (e *Engine) Close() error { return e.cache.Close(context.Background()) }

// Spec describes a module to load.
type Spec struct {
	Name   string // plugin name, used in logs, errors and metrics
	Hook   Hook
	Config map[string]string // readable by the plugin through config_get
	Wasm   []byte
}

// Load compiles spec.Wasm in its own wazero runtime, checks its exports
// and starts one instance to prove it initializes.
func (e *Engine) Load(ctx context.Context, spec Spec) (*Module, error) {
	rcfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		// Loop heads must return to Go: a guest spinning in compiled code
		// cannot be preempted, so it would stall the Go runtime (GC
		// stop-the-world) and starve the timer that sets the interrupt
		// global. wazero then also closes the module at the deadline.
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(min(e.cfg.MemoryLimitPages+growHeadroomPages, 65536))
	rt := wazero.NewRuntimeWithConfig(ctx, rcfg)
	fail := func(err error) (*Module, error) {
		rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm: wasi: %w", err))
	}
	if err := instantiateHostModule(ctx, rt, spec.Config); err != nil {
		return fail(fmt.Errorf("wasm: host module: %w", err))
	}
	code, err := addInterruptCheck(spec.Wasm)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
	}
	if err := checkExports(compiled, spec.Hook); err != nil {
		return fail(err)
	}
	if mem := compiled.ExportedMemories()[abi.ExportMemory]; mem.Min() > e.cfg.MemoryLimitPages {
		return fail(fmt.Errorf("%w: needs %d pages of memory at start, over the limit of %d", ErrInvalidModule, mem.Min(), e.cfg.MemoryLimitPages))
	}
	m := &Module{
		name:     spec.Name,
		hook:     spec.Hook,
		cfg:      e.cfg,
		rt:       rt,
		compiled: compiled,
		idle:     make(chan *instance, e.cfg.PoolSize),
		stats:    sharedMetrics(),
	}
	inst, err := m.newInstance(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
	}
	m.release(inst)
	return m, nil
}

// checkExports verifies the ABI exports the hook needs.
func checkExports(c wazero.CompiledModule, hook Hook) error {
	fns := c.ExportedFunctions()
	want := map[string]struct {
		params, results []api.ValueType
	}{
		abi.ExportAlloc: {[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		hook.export():   {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for name, sig := range want {
		f, ok := fns[name]
		if !ok {
			return fmt.Errorf("%w: missing export %q (a %s plugin needs %s and %s)", ErrInvalidModule, name, hook, abi.ExportAlloc, hook.export())
		}
		if !sameTypes(f.ParamTypes(), sig.params) || !sameTypes(f.ResultTypes(), sig.results) {
			return fmt.Errorf("%w: export %q has the wrong signature", ErrInvalidModule, name)
		}
	}
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("%w: missing exported memory %q", ErrInvalidModule, abi.ExportMemory)
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

// instantiateHostModule exports the "sluice" host functions to plugins of
// this runtime; config is the plugin's deploy-time configuration.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime, config map[string]string) error {
	cfg := make(map[string]string, len(config))
	for k, v := range config {
		cfg[k] = v
	}
	i32 := api.ValueTypeI32
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			stack[0] = uint64(uint32(configGet(mod.Memory(), cfg,
				uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]))))
		}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		Export(abi.ImportConfigGet).
		Instantiate(ctx)
	return err
}

// configGet implements config_get(keyPtr, keyLen, bufPtr, bufCap) -> len
// or -1 when unset; when len > bufCap nothing is copied. Out-of-bounds
// pointers read as an unset key (the plugin's own bug, not a host crash).
func configGet(mem api.Memory, cfg map[string]string, keyPtr, keyLen, bufPtr, bufCap uint32) int32 {
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

// moduleConfig is one instance's sandbox: no filesystem (no preopens),
// no network, real clocks and randomness, output into the log.
func (m *Module) moduleConfig(stdout, stderr *lineLogger) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
}

var errMissingExports = errors.New("instance lacks an ABI export")
