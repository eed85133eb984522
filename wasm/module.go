package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sluicemq/sluice/wasm/abi"
	"github.com/sluicemq/sluice/wasm/hostabi"
)

// Module is one loaded plugin version: its compiled code, its wazero
// runtime and a pool of instances. It is safe for concurrent use; each
// call runs on an instance of its own.
type Module struct {
	name     string
	hook     Hook
	cfg      Config
	engine   *Engine
	logLimit *logLimiter
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	idle     chan *instance
	stats    *metrics
	series   moduleSeries // this module's series of stats, looked up once

	// mu is held shared by every call and exclusively by Close, so Close
	// waits for in-flight calls and no call starts on a closed module.
	mu     sync.RWMutex
	closed bool
}

// Name is the plugin name given at load.
func (m *Module) Name() string { return m.name }

// Hook is the hook the module was loaded for.
func (m *Module) Hook() Hook { return m.hook }

// Close waits for in-flight calls, then releases the instances and the
// runtime. Later calls return ErrModuleClosed.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.engine.mu.Lock()
	delete(m.engine.modules, m)
	m.engine.mu.Unlock()
	m.shedIdle()
	ctx := context.Background()
	err := m.rt.Close(ctx)
	// The compilation cache's engine keeps the compiled code until the
	// compiled module itself is closed (closing the runtime is not enough):
	// without this every removed or replaced version stayed in memory.
	m.compiled.Close(ctx)
	return err
}

// shedIdle closes the idle instances, returning their memory to the
// budget.
func (m *Module) shedIdle() {
	ctx := context.Background()
	for {
		select {
		case inst := <-m.idle:
			inst.close(ctx)
		default:
			return
		}
	}
}

// Forget drops the plugin's metric series (when it is removed for good).
func (m *Module) Forget() { m.stats.forget(m.name) }

// instance is one instantiated module with its ABI functions resolved.
type instance struct {
	mod            api.Module
	mem            api.Memory
	alloc, hook    api.Function
	stack          []uint64 // reused call stack (CallWithStack avoids allocating)
	stdout, stderr *hostabi.LineLogger
	memory         *cappedMemory
	cctx           callContext // the context of the call in progress (reused)
}

func (m *Module) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// The initial memory comes out of the engine-wide budget before the
	// instance starts (wazero cannot take a refusal of it later).
	res := &reservation{budget: m.engine.budget}
	if err := m.engine.budget.reserve(ctx, m.initialMemory(), m.cfg.BudgetWait); err != nil {
		return nil, err
	}
	res.bytes.Store(m.initialMemory())
	inst := &instance{
		stdout: newLineLogger(m.cfg.Logger, m.name, "stdout", slog.LevelInfo, m.logLimit),
		stderr: newLineLogger(m.cfg.Logger, m.name, "stderr", slog.LevelWarn, m.logLimit),
		stack:  make([]uint64, 2),
		memory: newCappedMemory(m.cfg.MemoryLimitPages, res),
	}
	ctx = experimental.WithMemoryAllocator(ctx, inst.memory)
	mod, err := m.rt.InstantiateModule(ctx, m.compiled, m.moduleConfig(inst.stdout, inst.stderr))
	if err != nil {
		inst.stdout.Flush()
		inst.stderr.Flush()
		res.releaseAll() // idempotent: Free may have run already
		return nil, err
	}
	inst.mod = mod
	inst.mem = mod.ExportedMemory(abi.ExportMemory)
	inst.alloc = mod.ExportedFunction(abi.ExportAlloc)
	inst.hook = mod.ExportedFunction(m.hook.export())
	if inst.mem == nil || inst.alloc == nil || inst.hook == nil {
		inst.close(ctx)
		return nil, errMissingExports
	}
	return inst, nil
}

func (i *instance) close(ctx context.Context) {
	i.stdout.Flush()
	i.stderr.Flush()
	i.mod.Close(ctx)
	i.memory.res.releaseAll() // Free did, unless wazero never allocated
}

// initialMemory is the bytes of linear memory an instance starts with.
func (m *Module) initialMemory() int64 {
	if mem, ok := m.compiled.ExportedMemories()[abi.ExportMemory]; ok {
		return int64(mem.Min()) * 65536
	}
	return 0
}

// acquire takes an idle instance or starts a new one.
func (m *Module) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-m.idle:
		return inst, nil
	default:
		return m.newInstance(ctx)
	}
}

// release returns a healthy instance to the pool (or closes it when the
// pool is full).
func (m *Module) release(inst *instance) {
	inst.stdout.Flush()
	inst.stderr.Flush()
	select {
	case m.idle <- inst:
	default:
		inst.close(context.Background())
	}
}

// invoke runs one batch: it writes in into guest memory, calls the hook
// and hands the answer (a view of guest memory, valid only during decode)
// to decode. Any failure discards the instance.
func (m *Module) invoke(ctx context.Context, records int, in *batchInput, decode func(out []byte) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrModuleClosed
	}
	start := time.Now()
	m.series.calls.Inc()
	m.series.records.Add(float64(records))
	err := m.runBatch(ctx, in, decode)
	m.series.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		m.stats.errors.WithLabelValues(m.name, string(m.hook), kindLabel(err)).Inc()
	}
	return err
}

// run is runBatch for an encoded batch.
func (m *Module) run(ctx context.Context, in []byte, decode func(out []byte) error) error {
	return m.runBatch(ctx, &batchInput{raw: in}, decode)
}

func (m *Module) runBatch(ctx context.Context, in *batchInput, decode func(out []byte) error) error {
	inst, err := m.acquire(ctx)
	if err != nil {
		if errors.Is(err, ErrBudget) {
			return m.failure(ErrBudget, err.Error())
		}
		return m.failure(ErrStart, err.Error())
	}
	if err := ctx.Err(); err != nil {
		m.release(inst)
		return m.failure(ErrTimeout, "call canceled by the caller")
	}
	// The guest checks the deadline itself when it yields (instrument.go):
	// no timer, no goroutine, no context allocated per call.
	inst.cctx = callContext{Context: ctx, deadline: monoNanos() + int64(m.cfg.Timeout), done: ctx.Done()}
	inst.stderr.ResetPanicLine()
	out, err := inst.call(&inst.cctx, in)
	inst.cctx.Context, inst.cctx.done = nil, nil
	if err != nil {
		kind, detail := m.classify(inst, err)
		inst.stderr.Flush() // a panic line still without its newline
		if p := inst.stderr.PanicLine(); p != "" {
			// The plugin's own reason first (Go prints a panic's
			// message, then the stack, which stays in the log).
			detail = p + "; " + detail
		}
		inst.close(context.Background())
		return m.failure(kind, detail)
	}
	err = decode(out)
	if err != nil {
		inst.close(context.Background())
	} else {
		m.release(inst)
	}
	if err != nil {
		var refusal *RefusalError
		if errors.As(err, &refusal) {
			return err
		}
		return m.failure(ErrBadOutput, err.Error())
	}
	return nil
}

func (m *Module) failure(kind error, detail string) error {
	return &CallError{Plugin: m.name, Hook: m.hook, Kind: kind, Detail: detail}
}

// classify turns a wazero call error into a failure kind and detail.
func (m *Module) classify(inst *instance, err error) (error, string) {
	switch {
	case errors.Is(err, errBadAlloc) || errors.Is(err, errBadAnswer):
		return ErrBadOutput, err.Error()
	case errors.Is(err, errCallTimeout):
		return ErrTimeout, fmt.Sprintf("call exceeded %v and was stopped", m.cfg.Timeout)
	case errors.Is(err, errCallCanceled):
		return ErrTimeout, "call canceled by the caller"
	}
	if inst.memory.budgetRefused.Load() {
		return ErrOutOfMemory, fmt.Sprintf("the broker-wide plugin memory budget of %s is used up: %v", sizeString(m.cfg.MemoryBudgetBytes), err)
	}
	memAtLimit := inst.memory.refused.Load()
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if memAtLimit {
			return ErrOutOfMemory, fmt.Sprintf("memory limit of %d MiB reached (exit code %d)", m.cfg.MemoryLimitPages/16, exit.ExitCode())
		}
		return ErrExited, fmt.Sprintf("exit code %d (see the plugin's stderr in the log)", exit.ExitCode())
	}
	if memAtLimit {
		return ErrOutOfMemory, fmt.Sprintf("memory limit of %d MiB reached: %v", m.cfg.MemoryLimitPages/16, err)
	}
	return ErrTrap, err.Error()
}

var errBadAlloc = errors.New("sluice_alloc returned a buffer outside guest memory")

// call encodes in straight into a guest buffer from sluice_alloc (no
// intermediate copy), calls the hook and returns a view of the answer in
// guest memory.
func (i *instance) call(ctx context.Context, in *batchInput) ([]byte, error) {
	size := in.size()
	if size > math.MaxUint32 {
		return nil, fmt.Errorf("%w: a batch of %d bytes", errBadAlloc, size)
	}
	i.stack[0] = uint64(size)
	if err := i.alloc.CallWithStack(ctx, i.stack); err != nil {
		return nil, err
	}
	ptr := uint32(i.stack[0])
	dst, ok := i.mem.Read(ptr, uint32(size))
	if !ok {
		return nil, errBadAlloc
	}
	// dst's capacity is exactly size: an encoding that stayed in place
	// filled it (anything else would be a bug in size).
	if enc := in.encode(dst[:0]); len(enc) != size || (size > 0 && &enc[0] != &dst[0]) {
		return nil, fmt.Errorf("wasm: batch encoded to %d bytes, sized %d", len(enc), size)
	}
	i.stack[0], i.stack[1] = uint64(ptr), uint64(size)
	if err := i.hook.CallWithStack(ctx, i.stack); err != nil {
		return nil, err
	}
	res := i.stack[0]
	out, ok := i.mem.Read(uint32(res>>32), uint32(res))
	if !ok {
		return nil, fmt.Errorf("%w: answer at %#x+%d lies outside guest memory", errBadAnswer, res>>32, uint32(res))
	}
	return out, nil
}

var errBadAnswer = errors.New("bad answer")
