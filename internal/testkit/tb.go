package testkit

import (
	"flag"
	"time"
)

// TB is the part of testing.TB the kit uses; *testing.T and *testing.B
// satisfy it. The kit takes this instead of testing.TB so the package does
// not import "testing" and sluice-bench (a plain binary) can use its
// process launcher.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	TempDir() string
	Failed() bool
	Log(args ...any)
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Skip(args ...any)
}

// testFlag reads a boolean `go test` flag (test.v, test.short) without
// importing "testing"; false outside a test binary.
func testFlag(name string) bool {
	f := flag.Lookup(name)
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	v, _ := g.Get().(bool)
	return v
}

// verbose is testing.Verbose(). test.v is a "chatty" flag whose Get is not
// a bool in newer Go versions, so its string form is read as well.
func verbose() bool {
	f := flag.Lookup("test.v")
	if f == nil {
		return false
	}
	s := f.Value.String()
	return s == "true" || s == "test2json"
}

// Short is testing.Short(), for code that has only a TB.
func Short() bool { return testFlag("test.short") }

// SkipShort skips t under -short with why (e.g. "needs ZooKeeper").
func SkipShort(t TB, why string) {
	t.Helper()
	if Short() {
		t.Skip(why + " (skipped by -short)")
	}
}

// ShortOr returns short under -short and full otherwise: a size or
// timeout a quick run can shrink.
func ShortOr[T int | int64 | time.Duration](short, full T) T {
	if Short() {
		return short
	}
	return full
}
