package wasm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero"
)

// exitInvalidModule is the compile child's exit status for a module that
// does not compile (as opposed to one that ran out of time or memory).
const exitInvalidModule = 3

// compile compiles code in rt, giving up after CompileTimeout. wazero's
// compiler does not watch the context, so a compile that times out keeps
// running on its goroutine; the module limits checked before bound how
// long that can be, and the compile child (CompileCommand) is what bounds
// it for real. On failure compile owns rt: it closes it, after the
// compiler is done with it.
func (e *Engine) compile(ctx context.Context, rt wazero.Runtime, code []byte) (wazero.CompiledModule, error) {
	done := make(chan compileResult, 1)
	e.compiles.Add(1)
	go func() {
		// Close waits for this: the compiler must not outlive the
		// compilation cache's engine it writes into.
		defer e.compiles.Done()
		c, err := rt.CompileModule(context.Background(), code)
		done <- compileResult{c, err}
	}()
	timer := time.NewTimer(e.cfg.CompileTimeout)
	defer timer.Stop()
	var err error
	select {
	case res := <-done:
		if res.err == nil {
			return res.c, nil
		}
		rt.Close(context.Background())
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, res.err)
	case <-timer.C:
		err = fmt.Errorf("%w: compile exceeded %v", ErrModuleLimit, e.cfg.CompileTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("%w: compile abandoned: %v", ErrInvalidModule, ctx.Err())
	}
	e.compiles.Add(1)
	go func() {
		defer e.compiles.Done()
		if res := <-done; res.c != nil {
			res.c.Close(context.Background())
		}
		rt.Close(context.Background())
	}()
	return nil, err
}

type compileResult struct {
	c   wazero.CompiledModule
	err error
}

// compileInChild runs CompileCommand with the module on stdin. The child
// compiles it into the shared compilation cache under a data (memory)
// limit; a child that dies or overruns the timeout costs the broker
// nothing but the failed deploy.
func (e *Engine) compileInChild(ctx context.Context, code []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CompileTimeout)
	defer cancel()
	argv := append(append([]string(nil), e.cfg.CompileCommand...),
		"--cache-dir", e.cfg.CacheDir,
		"--memory-bytes", strconv.FormatInt(e.cfg.CompileMemoryBytes, 10),
		"--memory-limit-pages", strconv.FormatUint(uint64(e.cfg.MemoryLimitPages), 10))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(code)
	stderr := &headBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		e.cfg.Logger.Debug("plugin compiled in child", "seconds", time.Since(start).Seconds())
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w: compile exceeded %v and was stopped", ErrModuleLimit, e.cfg.CompileTimeout)
	case errors.As(err, &exit) && exit.ExitCode() == exitInvalidModule:
		return fmt.Errorf("%w: %s", ErrInvalidModule, bytes.TrimSpace(stderr.Bytes()))
	case errors.As(err, &exit):
		return fmt.Errorf("%w: compile failed within the %d MiB it may use (%v): %s",
			ErrModuleLimit, e.cfg.CompileMemoryBytes>>20, err, firstLine(stderr.Bytes()))
	default:
		return fmt.Errorf("wasm: running the compile child %q: %w", e.cfg.CompileCommand[0], err)
	}
}

// RunCompileChild is the main of the compile child (`sluice
// plugin-compile`): it reads an (already instrumented) module from stdin
// and compiles it into the compilation cache directory, limited to
// --memory-bytes of data (RLIMIT_DATA). Exit 0: compiled; 3: not a valid
// module (reason on stderr); anything else, including the Go runtime's
// out-of-memory death: over the limits.
func RunCompileChild(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin-compile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cacheDir := fs.String("cache-dir", "", "compilation cache directory")
	memBytes := fs.Int64("memory-bytes", DefaultCompileMemoryBytes, "data limit (RLIMIT_DATA) of this process")
	pages := fs.Uint("memory-limit-pages", DefaultMemoryLimitPages, "plugin memory limit, as the broker configures it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cacheDir == "" {
		fmt.Fprintln(stderr, "plugin-compile: --cache-dir is required")
		return 2
	}
	if *memBytes > 0 {
		if err := limitData(*memBytes); err != nil {
			fmt.Fprintln(stderr, "plugin-compile:", err)
			return 2
		}
		// Collect hard before the rlimit turns growth into a crash.
		debug.SetMemoryLimit(*memBytes * 3 / 4)
	}
	code, err := io.ReadAll(io.LimitReader(stdin, 2*DefaultMaxModuleBytes+1<<20))
	if err != nil {
		fmt.Fprintln(stderr, "plugin-compile: reading module:", err)
		return 2
	}
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(*cacheDir)
	if err != nil {
		fmt.Fprintln(stderr, "plugin-compile:", err)
		return 2
	}
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(cache, uint32(*pages)))
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalidModule
	}
	compiled.Close(ctx)
	rt.Close(ctx)
	cache.Close(ctx)
	return 0
}

// headBuffer keeps the first max bytes written: a dying Go runtime
// prints its reason ("fatal error: out of memory") first, then a long
// trace.
type headBuffer struct {
	max int
	buf []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (h *headBuffer) Bytes() []byte { return h.buf }

func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
