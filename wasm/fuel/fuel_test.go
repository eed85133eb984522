package fuel

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/sluicemq/sluice/wasm/abi"
)

// spinModule exports "spin", a function that loops for ever:
// (func (export "spin") (loop br 0)).
var spinModule = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type 0: () -> ()
	"\x03\x02\x01\x00" + // function 0: type 0
	"\x07\x08\x01\x04spin\x00\x00" + // export "spin" = function 0
	"\x0A\x09\x01\x07\x00\x03\x40\x0C\x00\x0B\x0B") // code: loop br 0 end end

// yieldResult runs Yield under ctx and returns the fuel it answered or
// the error it trapped with.
func yieldResult(ctx context.Context) (fuel uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = r.(error)
		}
	}()
	stack := []uint64{0}
	Yield(ctx, stack)
	return stack[0], nil
}

func TestYield(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	var live, expired, stopped Call
	live.Start(context.Background(), time.Hour)
	expired.Start(context.Background(), -time.Nanosecond)
	stopped.Start(canceled, time.Hour)
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"live call", &live, nil},
		{"call past its deadline", &expired, ErrTimeout},
		{"call whose caller gave up", &stopped, ErrCanceled},
		{"plain context", context.Background(), nil},
		{"plain context past its deadline", past, ErrTimeout},
		{"plain canceled context", canceled, ErrCanceled},
	} {
		fuel, err := yieldResult(c.ctx)
		if err != c.want || (err == nil && fuel != Refill) {
			t.Errorf("%s: fuel %d, err %v; want %v", c.name, fuel, err, c.want)
		}
	}
	live.Finish()
	if live.Context != nil || live.Stop != nil {
		t.Fatal("Finish kept the caller's context")
	}
}

// An instrumented spinning guest stops itself at its call's deadline,
// with WithCloseOnContextDone off, and a call with time left runs on.
func TestInstrumentedLoopStopsAtTheDeadline(t *testing.T) {
	code, err := Instrument(spinModule)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	defer rt.Close(ctx)
	if _, err := rt.NewHostModuleBuilder(abi.ImportModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(Yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(abi.ImportYield).Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	var call Call
	call.Start(ctx, 100*time.Millisecond)
	start := time.Now()
	_, err = mod.ExportedFunction("spin").Call(&call)
	call.Finish()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

func TestInstrumentRefusesWhatItCannotRewrite(t *testing.T) {
	for name, mod := range map[string][]byte{
		"empty":                nil,
		"not wasm":             []byte("\x7fELF\x02\x01\x01\x00"),
		"truncated":            spinModule[:len(spinModule)-3],
		"section past the end": append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0x05, 0x01),
		// No imports, then a byte that would sit before the yield import.
		"import section with trailing bytes": []byte("\x00asm\x01\x00\x00\x00\x02\x02\x00\x30"),
	} {
		if _, err := Instrument(mod); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
	out, err := Instrument([]byte("\x00asm\x01\x00\x00\x00"))
	if err != nil || len(out) <= 8 {
		t.Fatalf("an empty module: %d bytes, %v", len(out), err)
	}
}
