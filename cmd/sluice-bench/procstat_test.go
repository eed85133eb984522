package main

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPUTicksCountsFieldsAfterTheCommandName(t *testing.T) {
	// The command name contains spaces and a ')' to prove fields are
	// counted from the last ')'. utime=1234, stime=567.
	stat := "4242 (evil ) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 100 1000000 200 18446744073709551615\n"
	got, err := parseStatCPUTicks(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1234+567 {
		t.Fatalf("ticks = %d, want %d", got, 1234+567)
	}
}

func TestParseStatCPUTicksRejectsTruncatedLine(t *testing.T) {
	_, err := parseStatCPUTicks("1 (x) S 1 2 3")
	if !errors.Is(err, errProcFormat) {
		t.Fatalf("err = %v, want errProcFormat", err)
	}
	_, err = parseStatCPUTicks("no parentheses at all")
	if !errors.Is(err, errProcFormat) {
		t.Fatalf("err = %v, want errProcFormat", err)
	}
}

func TestParseStatusHWM(t *testing.T) {
	status := "Name:\tsluice\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
	got, err := parseStatusHWM(bufio.NewScanner(strings.NewReader(status)))
	if err != nil {
		t.Fatal(err)
	}
	if got != 123456*1024 {
		t.Fatalf("hwm = %d, want %d", got, 123456*1024)
	}

	_, err = parseStatusHWM(bufio.NewScanner(strings.NewReader("Name:\tx\nVmRSS:\t1 kB\n")))
	if !errors.Is(err, errProcFormat) {
		t.Fatalf("missing VmHWM: err = %v, want errProcFormat", err)
	}
}

func TestTicksToDuration(t *testing.T) {
	if got := ticksToDuration(250); got != 2500*time.Millisecond {
		t.Fatalf("250 ticks = %s, want 2.5s", got)
	}
}

// The live /proc files of this very process must parse: that is what the
// bench reads for its children.
func TestProcReadersOnOwnProcess(t *testing.T) {
	before, err := cpuTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves (one tick is 10ms of CPU). The wall
	// clock bound only stops a broken reader from spinning forever; a loaded
	// machine merely takes longer to get there.
	deadline := time.Now().Add(20 * time.Second)
	after, work, sink := before, make([]byte, 1<<20), uint64(0)
	for after == before && time.Now().Before(deadline) {
		sink += valueChecksum(work)
		if after, err = cpuTicks(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before {
		t.Fatalf("cpu ticks did not advance: before %d, after %d (checksums %d)", before, after, sink)
	}
	rss, err := peakRSSBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Fatalf("peak RSS %d bytes is implausibly small for a Go test binary", rss)
	}
}
