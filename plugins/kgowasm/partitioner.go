// Package kgowasm runs a Sluice partitioner plugin inside a franz-go
// producer: a kgo.Partitioner backed by the same .wasm file the broker
// runs, so a client picks exactly the partitions the broker would (for
// records it publishes over HTTP or that transforms emit).
//
//	p, err := kgowasm.Open("pageview-partitioner.wasm", kgowasm.Options{})
//	...
//	defer p.Close()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(p))
//
// The package is meant for client programs: it depends on wazero, kgo, the
// standard library, the dependency-free packages wasm/abi (the ABI) and
// wasm/fuel (the broker's deadline mechanism) and wasm/hostabi (the host
// side of the ABI it shares with the broker: export checks, host module,
// output logging; wazero only) only (no broker packages, no
// Prometheus), so it adds a few MB to a producer, not the broker. It
// implements the host side of the batch ABI (docs/plugin-abi.md) for one
// hook, the partitioner, one record per call (kgo partitions record by
// record).
package kgowasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/wasm/abi"
	"github.com/sluicemq/sluice/wasm/fuel"
	"github.com/sluicemq/sluice/wasm/hostabi"
)

// Defaults of Options, the broker's own where it has the same limit.
const (
	// DefaultCallTimeout bounds one partitioner call (the broker's
	// per-batch default).
	DefaultCallTimeout = 2 * time.Second
	// DefaultMemoryLimitPages caps an instance's memory at 64 MiB (the
	// broker's default).
	DefaultMemoryLimitPages = 1024
	// startTimeout bounds instantiating a module (its _initialize).
	startTimeout = 10 * time.Second
)

// Options tune the client-side runtime. Zero values take the defaults.
type Options struct {
	// Config is the plugin configuration, the same key=value pairs given
	// to the broker's deploy (`--config k=v`); the plugin reads it through
	// sluice.config_get. Default: none.
	Config map[string]string

	// PoolSize is how many idle instances are kept for concurrent
	// partitioning (each call runs on an instance of its own; more
	// concurrent calls start more, and those beyond the pool are closed
	// afterwards). Default: GOMAXPROCS.
	PoolSize int

	// CallTimeout bounds one call. A call over it is stopped (within
	// about a millisecond) and fails its record. It is enforced as the
	// broker enforces its own (package wasm/fuel): Open rewrites the
	// module so that the guest counts its work and calls back into Go
	// now and then, where the deadline is compared with the clock; no
	// goroutine or timer per call. A negative value disables it and
	// leaves the module as it is, for trusted modules on hot paths (a
	// plugin that then loops forever hangs the producing goroutine).
	// Default: DefaultCallTimeout (2s).
	CallTimeout time.Duration

	// MemoryLimitPages caps each instance's linear memory in 64 KiB
	// pages; a plugin needing more fails its call. Default:
	// DefaultMemoryLimitPages (1024, 64 MiB).
	MemoryLimitPages uint32

	// Logger receives the plugin's stdout and stderr, one record per
	// line, and partitioning failures. Default: slog.Default().
	Logger *slog.Logger

	// CompilationCache, when set, is where the module's machine code is
	// looked up and kept (wazero.NewCompilationCacheWithDir keeps it
	// across restarts), shared with every runtime that uses the same
	// cache. Default: none, New compiles the module.
	CompilationCache wazero.CompilationCache
}

func (o Options) withDefaults() Options {
	if o.PoolSize <= 0 {
		o.PoolSize = runtime.GOMAXPROCS(0)
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if o.MemoryLimitPages > 65536 {
		o.MemoryLimitPages = 65536
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// ErrInvalidModule is returned by Open and New for a module that cannot
// serve as a partitioner.
var ErrInvalidModule = errors.New("kgowasm: invalid partitioner module")

// Error is a failed partitioner call.
type Error struct {
	Topic string
	// Refused is true when the plugin answered a refusal (ABI status 1
	// or 2) rather than failing (trap, exit, timeout, bad answer).
	Refused bool
	Detail  string
}

func (e *Error) Error() string {
	if e.Refused {
		return fmt.Sprintf("kgowasm: partitioner refused a record of topic %q: %s", e.Topic, e.Detail)
	}
	return fmt.Sprintf("kgowasm: partitioner failed on a record of topic %q: %s", e.Topic, e.Detail)
}

// Partitioner is a kgo.Partitioner running a partitioner plugin. It is
// safe for concurrent use.
type Partitioner struct {
	opts     Options
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	idle     chan *instance
}

var _ kgo.Partitioner = (*Partitioner)(nil)

// Open loads the partitioner plugin in the .wasm file at path.
func Open(path string, opts Options) (*Partitioner, error) {
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kgowasm: %w", err)
	}
	return New(code, opts)
}

// New loads a partitioner plugin from its bytes: it compiles it, checks
// its ABI exports and starts one instance, so a broken module fails here
// rather than on the first record.
func New(code []byte, opts Options) (*Partitioner, error) {
	opts = opts.withDefaults()
	ctx := context.Background()
	// The compiler where supported, else the interpreter. No
	// WithCloseOnContextDone: the instrumented guest checks its deadline
	// itself, far more cheaply than wazero's exit at every loop head.
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(opts.MemoryLimitPages)
	if opts.CompilationCache != nil {
		rc = rc.WithCompilationCache(opts.CompilationCache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	var compiled wazero.CompiledModule
	fail := func(err error) (*Partitioner, error) {
		if compiled != nil {
			// With a compilation cache the code lives until the
			// compiled module is closed, not the runtime.
			compiled.Close(ctx)
		}
		rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("kgowasm: wasi: %w", err))
	}
	// The "sluice" imports: config_get with the plugin's configuration,
	// and yield, which the checks fuel.Instrument adds call to compare
	// the clock with the call's deadline.
	if err := hostabi.InstantiateHostModule(ctx, rt, opts.Config, fuel.Yield); err != nil {
		return fail(fmt.Errorf("kgowasm: host module: %w", err))
	}
	if opts.CallTimeout > 0 {
		var err error
		if code, err = fuel.Instrument(code); err != nil {
			return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
		}
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidModule, err))
	}
	if err := checkExports(compiled); err != nil {
		return fail(err)
	}
	p := &Partitioner{opts: opts, rt: rt, compiled: compiled, idle: make(chan *instance, opts.PoolSize)}
	inst, err := p.newInstance(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: starting it: %v", ErrInvalidModule, err))
	}
	healthy, err := p.probe(inst)
	if err != nil {
		inst.close()
		return fail(err)
	}
	if healthy {
		p.release(inst)
	} else {
		inst.close() // a failed probe call leaves the instance in an unknown state
	}
	return p, nil
}

// checkExports refuses what the broker's deploy would refuse for a
// partitioner: missing or mistyped ABI exports and WASI commands.
func checkExports(c wazero.CompiledModule) error {
	if err := hostabi.CheckExports(c, abi.ExportPartition, "a partitioner", ErrInvalidModule); err != nil {
		return err
	}
	fns := c.ExportedFunctions()
	_, reactor := fns[abi.ExportInitialize]
	if _, command := fns["_start"]; command && !reactor {
		return fmt.Errorf("%w: the module is a WASI command (it exports _start, not _initialize): "+
			"build Go plugins as reactors with -buildmode=c-shared", ErrInvalidModule)
	}
	return nil
}

// Close releases the module; close the kgo client first.
func (p *Partitioner) Close() error {
	for {
		select {
		case inst := <-p.idle:
			inst.close()
		default:
			ctx := context.Background()
			err := p.rt.Close(ctx)
			p.compiled.Close(ctx)
			return err
		}
	}
}

// ForTopic implements kgo.Partitioner.
func (p *Partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitioner{p: p, topic: topic}
}

type topicPartitioner struct {
	p     *Partitioner
	topic string
}

// RequiresConsistency is true: a key must always map to the partition the
// plugin picks, even while that partition is unavailable.
func (*topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

// Partition runs the plugin on one record. A plugin failure is logged and
// answered with -1, which makes kgo fail that record (its promise gets an
// error) rather than send it to a partition the broker would not have
// chosen.
func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	part, err := t.p.PartitionRecord(t.topic, r, n)
	if err != nil {
		t.p.opts.Logger.Error("kgowasm: partitioner failed; failing the record", "topic", t.topic, "err", err)
		return -1
	}
	return part
}

// PartitionRecord runs the plugin on one record of topic, which has
// partitions partitions, and returns the partition it chose or an *Error.
// The record is presented as the broker presents records to a
// partitioner: offset -1, timestamp in milliseconds (0 when unset).
func (p *Partitioner) PartitionRecord(topic string, r *kgo.Record, partitions int) (int, error) {
	if partitions <= 0 || partitions > 1<<31-1 {
		return -1, &Error{Topic: topic, Detail: fmt.Sprintf("%d partitions", partitions)}
	}
	inst, err := p.acquire()
	if err != nil {
		return -1, &Error{Topic: topic, Detail: "starting an instance: " + err.Error()}
	}
	in := abi.AppendInputHeader(inst.in[:0], &abi.Meta{Partition: -1, NumPartitions: int32(partitions), Topic: topic}, 1)
	var ts int64
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UnixMilli()
	}
	in, start := abi.BeginRecord(in, ts, -1, r.Key, r.Value, len(r.Headers))
	for _, h := range r.Headers {
		in = abi.AppendHeader(in, h.Key, h.Value)
	}
	in = abi.FinishRecord(in, start)
	inst.in = in
	part, err := p.call(inst, in, partitions)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Topic = topic
		}
		return -1, err
	}
	return part, nil
}

// call runs one batch on inst and decodes the answer; a failure other than
// a refusal discards the instance (its state is unknown after a trap).
func (p *Partitioner) call(inst *instance, in []byte, partitions int) (int, error) {
	inst.stderr.ResetPanicLine()
	var out []byte
	var err error
	if p.opts.CallTimeout > 0 {
		// The guest's yields check inst.deadline: nothing per call but
		// a clock read.
		inst.deadline.Start(context.Background(), p.opts.CallTimeout)
		out, err = inst.invoke(&inst.deadline, in)
		inst.deadline.Finish()
	} else {
		out, err = inst.invoke(context.Background(), in)
	}
	if err != nil {
		inst.stdout.Flush()
		inst.stderr.Flush()
		detail := p.describe(inst, err)
		if pl := inst.stderr.PanicLine(); pl != "" {
			detail = pl + "; " + detail // the plugin's own reason first
		}
		inst.close()
		return -1, &Error{Detail: detail}
	}
	part, err := decode(out, partitions)
	if err != nil {
		var refusal *Error
		if errors.As(err, &refusal) {
			p.release(inst)
			return -1, err
		}
		inst.close()
		return -1, &Error{Detail: "malformed answer: " + err.Error()}
	}
	p.release(inst)
	return part, nil
}

// describe names why a call failed.
func (p *Partitioner) describe(inst *instance, err error) string {
	atLimit := inst.mem != nil && inst.mem.Size() >= p.opts.MemoryLimitPages*65536-65536
	switch {
	case errors.Is(err, fuel.ErrTimeout):
		return fmt.Sprintf("call exceeded %v and was stopped", p.opts.CallTimeout)
	case errors.Is(err, fuel.ErrCanceled):
		return "call canceled"
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if atLimit {
			return fmt.Sprintf("memory limit of %d MiB reached (exit code %d)", p.opts.MemoryLimitPages/16, exit.ExitCode())
		}
		return fmt.Sprintf("exit code %d", exit.ExitCode())
	}
	if atLimit {
		return fmt.Sprintf("memory limit of %d MiB reached: %v", p.opts.MemoryLimitPages/16, err)
	}
	// wazero's trap errors end with a wasm stack trace; the first line
	// is the reason.
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// decode reads a partitioner's Output for a batch of one record.
func decode(out []byte, partitions int) (int, error) {
	r := abi.NewReader(out)
	switch status := r.Uint32(); {
	case r.Err() != nil:
		return -1, r.Err()
	case status == abi.StatusRejected || status == abi.StatusPolicy:
		msg := r.String()
		if r.Err() != nil {
			return -1, fmt.Errorf("refusal without a message: %w", r.Err())
		}
		return -1, &Error{Refused: true, Detail: msg}
	case status != abi.StatusOK:
		return -1, fmt.Errorf("unknown status %d", status)
	}
	if n := r.Uint32(); r.Err() == nil && n != 1 {
		return -1, fmt.Errorf("answer for %d records, the batch had 1", n)
	}
	part := int32(r.Uint32())
	if err := r.Err(); err != nil {
		return -1, err
	}
	if r.Remaining() != 0 {
		return -1, fmt.Errorf("%d trailing bytes", r.Remaining())
	}
	if part < 0 || int(part) >= partitions {
		return -1, fmt.Errorf("partition %d out of range [0, %d)", part, partitions)
	}
	return int(part), nil
}

// probe calls an SDK-built module (one exporting _initialize) with an
// empty batch, as the broker's deploy does, so a module registering
// another hook or speaking another ABI version is refused at Open rather
// than failing every record. Hand-written modules are not judged by it.
// healthy is false when the call failed (inst must not be reused).
func (p *Partitioner) probe(inst *instance) (healthy bool, err error) {
	if _, ok := p.compiled.ExportedFunctions()[abi.ExportInitialize]; !ok {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, err := inst.invoke(ctx, abi.AppendInputHeader(nil, &abi.Meta{Partition: -1, NumPartitions: 1}, 0))
	if err != nil {
		p.opts.Logger.Warn("kgowasm: probe call failed; loading the module anyway", "err", err)
		return false, nil
	}
	r := abi.NewReader(out)
	switch status := r.Uint32(); {
	case status == abi.StatusOK:
		if n := r.Uint32(); r.Err() == nil && n == 0 && r.Remaining() == 0 {
			return true, nil
		}
	case status == abi.StatusRejected || status == abi.StatusPolicy:
		msg := r.String()
		if strings.Contains(msg, "no partitioner registered") {
			return true, fmt.Errorf("%w: the module registers no partitioner (%s): it is not a partitioner plugin", ErrInvalidModule, msg)
		}
		if !strings.Contains(msg, "abi") && !strings.Contains(msg, "version") {
			return true, nil // a refusal of its own; left to the calls
		}
	}
	return true, fmt.Errorf("%w: its answer to an empty batch is not ABI v%d: rebuild it with the current SDK", ErrInvalidModule, abi.Version)
}

// instance is one instantiated module; it runs on one goroutine at a time.
type instance struct {
	mod            api.Module
	mem            api.Memory
	alloc, part    api.Function
	stack          []uint64
	in             []byte // reused Input buffer
	stdout, stderr *hostabi.LineLogger
	deadline       fuel.Call // the context of the call in progress (reused)
}

func (p *Partitioner) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	inst := &instance{
		stdout: &hostabi.LineLogger{Logger: p.opts.Logger, Stream: "stdout", Level: slog.LevelInfo},
		stderr: &hostabi.LineLogger{Logger: p.opts.Logger, Stream: "stderr", Level: slog.LevelWarn},
		stack:  make([]uint64, 2),
	}
	cfg := wazero.NewModuleConfig().
		WithName(""). // many instances of one module in one runtime
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(inst.stdout).
		WithStderr(inst.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		inst.stdout.Flush()
		inst.stderr.Flush()
		return nil, err
	}
	inst.mod = mod
	inst.mem = mod.ExportedMemory(abi.ExportMemory)
	inst.alloc = mod.ExportedFunction(abi.ExportAlloc)
	inst.part = mod.ExportedFunction(abi.ExportPartition)
	if inst.mem == nil || inst.alloc == nil || inst.part == nil {
		inst.close()
		return nil, errors.New("instance lacks an ABI export")
	}
	return inst, nil
}

func (i *instance) close() {
	i.stdout.Flush()
	i.stderr.Flush()
	i.mod.Close(context.Background())
}

func (p *Partitioner) acquire() (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
		return p.newInstance(context.Background())
	}
}

func (p *Partitioner) release(inst *instance) {
	inst.stdout.Flush()
	inst.stderr.Flush()
	select {
	case p.idle <- inst:
	default:
		inst.close()
	}
}

// invoke writes in into a buffer from sluice_alloc, calls
// sluice_partition and returns a view of the answer in guest memory.
func (i *instance) invoke(ctx context.Context, in []byte) ([]byte, error) {
	i.stack[0] = uint64(len(in))
	if err := i.alloc.CallWithStack(ctx, i.stack); err != nil {
		return nil, err
	}
	ptr := uint32(i.stack[0])
	if !i.mem.Write(ptr, in) {
		return nil, fmt.Errorf("sluice_alloc returned a buffer outside guest memory (%#x+%d)", ptr, len(in))
	}
	i.stack[0], i.stack[1] = uint64(ptr), uint64(len(in))
	if err := i.part.CallWithStack(ctx, i.stack); err != nil {
		return nil, err
	}
	res := i.stack[0]
	out, ok := i.mem.Read(uint32(res>>32), uint32(res))
	if !ok {
		return nil, fmt.Errorf("answer at %#x+%d lies outside guest memory", res>>32, uint32(res))
	}
	return out, nil
}
