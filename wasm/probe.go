package wasm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/sluicemq/sluice/wasm/abi"
)

// Deploy-time checks of a module that compiles and starts but would fail
// every call: a Go plugin built as a command instead of a reactor, a
// module registering another hook than the one it is deployed as, or one
// built against another ABI. Without them such modules were "Deployed"
// and then failed every produce or fetch.

// probeTimeout bounds each probe call (an empty batch).
const probeTimeout = time.Second

// checkReactor refuses a WASI command: its runtime is initialized only by
// _start, which a plugin host never runs, so every hook call traps
// ("wasmexport function called before runtime initialization").
func checkReactor(c wazero.CompiledModule) error {
	fns := c.ExportedFunctions()
	if _, ok := fns[abi.ExportInitialize]; ok {
		return nil
	}
	if _, ok := fns["_start"]; ok {
		return fmt.Errorf("%w: the module is a WASI command (it exports _start, not _initialize): "+
			"build Go plugins as reactors with -buildmode=c-shared "+
			"(GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .)", ErrInvalidModule)
	}
	return nil
}

// probe calls the deployed hook with an empty batch. A module built with
// an SDK (one that exports _initialize) must answer it with an empty OK
// answer; an SDK refusal naming the hook as unregistered or a malformed
// answer (another ABI version) is a deploy error naming the fix. Traps
// and timeouts are left to the calls (a hand-written module may trap on
// purpose in tests; the probe must not refuse what merely misbehaves on
// some input).
func (m *Module) probe(ctx context.Context) error {
	if _, ok := m.compiled.ExportedFunctions()[abi.ExportInitialize]; !ok {
		return nil // hand-written modules: nothing SDK-shaped to check
	}
	err := m.probeHook(ctx, m.hook)
	var refusal *RefusalError
	var call *CallError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refusal) && strings.Contains(refusal.Message, "no "+string(m.hook)+" registered"):
		var has []string
		for _, h := range []Hook{HookPartitioner, HookTransform, HookFilter} {
			if h == m.hook {
				continue
			}
			if _, ok := m.compiled.ExportedFunctions()[h.export()]; ok && m.probeHook(ctx, h) == nil {
				has = append(has, string(h))
			}
		}
		if len(has) == 0 {
			return fmt.Errorf("%w: the module registers no %s (%s): register one with the SDK (e.g. sdk.%s) or deploy it as the hook it registers",
				ErrInvalidModule, m.hook, refusal.Message, sdkRegister(m.hook))
		}
		return fmt.Errorf("%w: the module registers a %s, deployed as %s: deploy it with --hook %s",
			ErrInvalidModule, strings.Join(has, " and a "), m.hook, has[0])
	case errors.As(err, &refusal) && (strings.Contains(refusal.Message, "abi") || strings.Contains(refusal.Message, "version")),
		errors.As(err, &call) && errors.Is(call.Kind, ErrBadOutput):
		return fmt.Errorf("%w: its answer to an empty batch is not ABI v%d (%v): rebuild it with the current SDK",
			ErrInvalidModule, abi.Version, err)
	default:
		m.cfg.Logger.Warn("plugin deploy probe failed; deploying anyway", "plugin", m.name, "hook", m.hook, "err", err)
		return nil
	}
}

// probeHook runs hook h of the module on an empty batch, on an instance
// of its own that it closes (no metrics are counted).
func (m *Module) probeHook(ctx context.Context, h Hook) error {
	ctx, cancel := context.WithTimeout(ctx, min(probeTimeout, m.cfg.Timeout))
	defer cancel()
	pm := &Module{name: m.name, hook: h, cfg: m.cfg, engine: m.engine, logLimit: m.logLimit,
		rt: m.rt, compiled: m.compiled, idle: make(chan *instance, 1), stats: m.stats}
	defer pm.shedIdle()
	in := encodeInput(&abi.Meta{Partition: -1, NumPartitions: 1}, nil)
	defer putInput(in)
	return pm.run(ctx, *in, func(out []byte) error {
		r, err := pm.readStatus(out, 0)
		if err != nil {
			return err
		}
		if h == HookPartitioner {
			return finished(r)
		}
		if n := r.Uint32(); r.Err() == nil && n != 0 {
			return fmt.Errorf("%d records answered for an empty batch", n)
		}
		if h == HookTransform {
			r.Uint32() // emits
		}
		return finished(r)
	})
}

func sdkRegister(h Hook) string {
	switch h {
	case HookPartitioner:
		return "Partitioner"
	case HookTransform:
		return "Transform"
	}
	return "Filter"
}
