package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// pluginFlags are serve's plugin limits (docs/operations.md, "Plugin
// budgets").
type pluginFlags struct {
	maxModuleBytes int64
	maxFunctions   int64
	compileTimeout time.Duration
	compileMemory  int64
	memoryBudget   int64
	logLines       float64
	keepVersions   int
}

func newPluginFlags(fs *flag.FlagSet) *pluginFlags {
	p := &pluginFlags{}
	fs.Int64Var(&p.maxModuleBytes, "plugin-max-module-bytes", wasm.DefaultMaxModuleBytes, "largest plugin module accepted, in bytes")
	fs.Int64Var(&p.maxFunctions, "plugin-max-functions", wasm.DefaultMaxFunctions, "most functions (imported + defined) a plugin module may have")
	fs.DurationVar(&p.compileTimeout, "plugin-compile-timeout", wasm.DefaultCompileTimeout, "longest a plugin compile may take")
	fs.Int64Var(&p.compileMemory, "plugin-compile-memory", wasm.DefaultCompileMemoryBytes, "memory (RLIMIT_DATA) of the child process that compiles a plugin, in bytes")
	fs.Int64Var(&p.memoryBudget, "plugin-memory-budget", wasm.DefaultMemoryBudgetBytes, "linear memory of all plugin instances together, in bytes")
	fs.Float64Var(&p.logLines, "plugin-log-lines-per-second", wasm.DefaultLogLinesPerSecond, "plugin stdout/stderr lines logged per second per plugin (burst 5x); the rest are dropped and counted")
	fs.IntVar(&p.keepVersions, "plugin-keep-versions", plugins.DefaultKeepVersions, "versions of each plugin kept on disk for `sluice plugin rollback`, the live one included")
	return p
}

// keep is --plugin-keep-versions, checked.
func (p *pluginFlags) keep() (int, error) {
	if p.keepVersions < 1 || p.keepVersions > plugins.MaxKeepVersions {
		return 0, &invalidFlagError{"plugin-keep-versions", fmt.Sprint(p.keepVersions), fmt.Sprintf("must be 1 to %d", plugins.MaxKeepVersions)}
	}
	return p.keepVersions, nil
}

// config is the wasm.Config of serve: compiles run in a `sluice
// plugin-compile` child of this executable.
func (p *pluginFlags) config() (wasm.Config, error) {
	for _, f := range []struct {
		name     string
		value    any
		positive bool
	}{
		{"plugin-max-module-bytes", p.maxModuleBytes, p.maxModuleBytes > 0},
		{"plugin-max-functions", p.maxFunctions, p.maxFunctions > 0},
		{"plugin-compile-memory", p.compileMemory, p.compileMemory > 0},
		{"plugin-memory-budget", p.memoryBudget, p.memoryBudget > 0},
		{"plugin-compile-timeout", p.compileTimeout, p.compileTimeout > 0},
		{"plugin-log-lines-per-second", p.logLines, p.logLines > 0},
	} {
		if !f.positive {
			return wasm.Config{}, &invalidFlagError{f.name, fmt.Sprint(f.value), "must be positive"}
		}
	}
	cfg := wasm.Config{
		MaxModuleBytes:     int(p.maxModuleBytes),
		MaxFunctions:       int(p.maxFunctions),
		CompileTimeout:     p.compileTimeout,
		CompileMemoryBytes: p.compileMemory,
		MemoryBudgetBytes:  p.memoryBudget,
		LogLinesPerSecond:  p.logLines,
		LogBurst:           max(1, int(5*p.logLines)),
	}
	if exe, err := os.Executable(); err == nil {
		cfg.CompileCommand = []string{exe, compileChildArg}
	}
	return cfg, nil
}

// compileChildArg is the hidden subcommand the broker runs itself with to
// compile a plugin in a memory-limited child (wasm.RunCompileChild).
const compileChildArg = "plugin-compile"

// maybeCompileChild runs the compile child and exits when args ask for it.
func maybeCompileChild(args []string) {
	if len(args) > 0 && args[0] == compileChildArg {
		os.Exit(wasm.RunCompileChild(args[1:], os.Stdin, os.Stderr))
	}
}
