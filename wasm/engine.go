package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/sluicemq/sluice/wasm/abi"
	"github.com/sluicemq/sluice/wasm/hostabi"
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
	// Shared, when set, is the compilation cache instead of CacheDir's
	// (the compile child writes into its directory); the engine does not
	// close it. Tests give every node of a test binary the same one.
	Shared *SharedCache
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

	// MaxModuleBytes, MaxFunctions and MaxFunctionBytes bound a module
	// before it is compiled (limits.go). Defaults DefaultMaxModuleBytes,
	// DefaultMaxFunctions, DefaultMaxFunctionBytes.
	MaxModuleBytes   int
	MaxFunctions     int
	MaxFunctionBytes int
	// CompileTimeout bounds one compile. Default DefaultCompileTimeout.
	CompileTimeout time.Duration
	// CompileCommand, when set (with CacheDir), compiles each module
	// first in a child process (argv; RunCompileChild is its main) limited
	// to CompileMemoryBytes of data (RLIMIT_DATA) and killed at
	// CompileTimeout, so a runaway compile takes down only the child; the
	// broker then loads the result from the compilation cache. Empty
	// compiles in-process (the module limits still apply).
	CompileCommand []string
	// CompileMemoryBytes is the child's data limit. Default
	// DefaultCompileMemoryBytes.
	CompileMemoryBytes int64

	// MemoryBudgetBytes is the engine-wide (broker-wide) budget for the
	// linear memory of every plugin instance together. Default
	// DefaultMemoryBudgetBytes.
	MemoryBudgetBytes int64
	// BudgetWait is how long starting an instance waits for budget to
	// free up before the call fails with ErrBudget. Default
	// DefaultBudgetWait.
	BudgetWait time.Duration
	// LogLinesPerSecond and LogBurst rate-limit each plugin's
	// stdout/stderr lines into the log (token bucket per plugin); lines
	// over the rate are dropped and counted. Defaults
	// DefaultLogLinesPerSecond, DefaultLogBurst.
	LogLinesPerSecond float64
	LogBurst          int
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
	if c.MaxModuleBytes <= 0 {
		c.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if c.MaxFunctions <= 0 {
		c.MaxFunctions = DefaultMaxFunctions
	}
	if c.MaxFunctionBytes <= 0 {
		c.MaxFunctionBytes = DefaultMaxFunctionBytes
	}
	if c.CompileTimeout <= 0 {
		c.CompileTimeout = DefaultCompileTimeout
	}
	if c.CompileMemoryBytes <= 0 {
		c.CompileMemoryBytes = DefaultCompileMemoryBytes
	}
	if c.MemoryBudgetBytes <= 0 {
		c.MemoryBudgetBytes = DefaultMemoryBudgetBytes
	}
	if c.BudgetWait <= 0 {
		c.BudgetWait = DefaultBudgetWait
	}
	if c.LogLinesPerSecond <= 0 {
		c.LogLinesPerSecond = DefaultLogLinesPerSecond
	}
	if c.LogBurst <= 0 {
		c.LogBurst = DefaultLogBurst
	}
	return c
}

// Engine compiles and loads plugin modules.
type Engine struct {
	cfg    Config
	cache  wazero.CompilationCache
	budget *memoryBudget

	mu       sync.Mutex
	modules  map[*Module]struct{} // open modules, whose idle instances budget pressure sheds
	compiles sync.WaitGroup       // compiles running, including abandoned ones
}

// NewEngine creates an engine.
func NewEngine(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	var cache wazero.CompilationCache
	if cfg.Shared != nil {
		cfg.CacheDir = cfg.Shared.dir
		cache = cfg.Shared.wz
	} else if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	e := &Engine{cfg: cfg, cache: cache, modules: map[*Module]struct{}{}}
	e.budget = newMemoryBudget(cfg.MemoryBudgetBytes, e.shedIdle)
	return e, nil
}

// shedIdle closes every module's idle instances, returning their memory to
// the budget: under budget pressure a call that needs an instance matters
// more than another plugin's warm spare.
func (e *Engine) shedIdle() {
	e.mu.Lock()
	mods := make([]*Module, 0, len(e.modules))
	for m := range e.modules {
		mods = append(mods, m)
	}
	e.mu.Unlock()
	for _, m := range mods {
		m.shedIdle()
	}
}

// BudgetUsed is the plugin memory currently reserved from the budget.
func (e *Engine) BudgetUsed() int64 { return e.budget.usedBytes() }

// runtimeConfig is the wazero configuration of every plugin runtime; the
// compile child uses the same one, so what it compiles into the cache is
// what Load looks up.
func runtimeConfig(cache wazero.CompilationCache, memoryLimitPages uint32) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		// Off: it makes every loop head exit to Go, about 10x the cost of
		// a Go plugin. The checks Load adds yield to Go instead (see
		// instrument.go and deadline.go).
		WithCloseOnContextDone(false).
		WithMemoryLimitPages(min(memoryLimitPages+growHeadroomPages, 65536))
}

// Close releases the compilation cache (not a Shared one: its owner
// does), after any compile that timed out has finished. Modules must be
// closed first.
func (e *Engine) Close() error {
	e.compiles.Wait()
	if e.cfg.Shared != nil {
		return nil
	}
	return e.cache.Close(context.Background())
}

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
	// Refuse what is over the limits before anything compiles it.
	if _, err := checkModuleLimits(spec.Wasm, e.cfg); err != nil {
		return nil, err
	}
	instrument := addYieldChecks
	if e.cfg.Shared != nil {
		instrument = e.cfg.Shared.instrument
	}
	code, err := instrument(spec.Wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if len(e.cfg.CompileCommand) > 0 && e.cfg.CacheDir != "" {
		if err := e.compileInChild(ctx, code); err != nil {
			return nil, err
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(e.cache, e.cfg.MemoryLimitPages))
	var compiled wazero.CompiledModule
	fail := func(err error) (*Module, error) {
		if compiled != nil {
			// With a shared compilation cache the engine keeps compiled
			// code until the compiled module is closed, not the runtime.
			compiled.Close(ctx)
		}
		rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm: wasi: %w", err))
	}
	if err := instantiateHostModule(ctx, rt, spec.Config); err != nil {
		return fail(fmt.Errorf("wasm: host module: %w", err))
	}
	compiled, err = e.compile(ctx, rt, code)
	if err != nil {
		return nil, err // compile closes rt
	}
	if err := checkExports(compiled, spec.Hook); err != nil {
		return fail(err)
	}
	if err := checkReactor(compiled); err != nil {
		return fail(err)
	}
	if mem := compiled.ExportedMemories()[abi.ExportMemory]; mem.Min() > e.cfg.MemoryLimitPages {
		return fail(fmt.Errorf("%w: needs %d pages of memory at start, over the limit of %d", ErrInvalidModule, mem.Min(), e.cfg.MemoryLimitPages))
	}
	if e.cfg.Shared != nil {
		e.cfg.Shared.pin(code)
	}
	m := &Module{
		name:     spec.Name,
		hook:     spec.Hook,
		cfg:      e.cfg,
		engine:   e,
		rt:       rt,
		compiled: compiled,
		idle:     make(chan *instance, e.cfg.PoolSize),
		stats:    sharedMetrics(),
	}
	m.series = m.stats.series(spec.Name, spec.Hook)
	m.logLimit = newLogLimiter(e.cfg.LogLinesPerSecond, e.cfg.LogBurst, func() { m.stats.logDropped.WithLabelValues(spec.Name).Inc() })
	inst, err := m.newInstance(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
	}
	m.release(inst)
	e.mu.Lock()
	e.modules[m] = struct{}{}
	e.mu.Unlock()
	if err := m.probe(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// checkExports verifies the ABI exports the hook needs.
func checkExports(c wazero.CompiledModule, hook Hook) error {
	return hostabi.CheckExports(c, hook.export(), "a "+string(hook)+" plugin", ErrInvalidModule)
}

// instantiateHostModule exports the "sluice" host functions to plugins of
// this runtime; config is the plugin's deploy-time configuration.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime, config map[string]string) error {
	return hostabi.InstantiateHostModule(ctx, rt, config, yieldHost)
}

// moduleConfig is one instance's sandbox: no filesystem (no preopens),
// no network, real clocks and randomness, output into the log.
func (m *Module) moduleConfig(stdout, stderr *hostabi.LineLogger) wazero.ModuleConfig {
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
