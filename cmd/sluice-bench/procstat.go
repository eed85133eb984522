package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime/stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports, so we do not call sysconf.
const clockTicksPerSecond = 100

// errProcFormat reports a /proc file we could not make sense of.
var errProcFormat = errors.New("unexpected /proc format")

// cpuTicks returns utime+stime of pid in clock ticks. Only the process's own
// threads count, which is exactly the broker: children of the broker (it
// has none) would not be included.
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPUTicks(string(raw))
}

// parseStatCPUTicks extracts utime (field 14) + stime (field 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and may
// itself contain spaces or parentheses, so fields are counted from the last ')'.
func parseStatCPUTicks(stat string) (int64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("%w: stat has no command name", errProcFormat)
	}
	// After ") " come fields 3 (state), 4, 5, ... so utime is the 12th.
	fields := strings.Fields(stat[end+1:])
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(fields) <= stimeIdx {
		return 0, fmt.Errorf("%w: stat has %d fields after the name", errProcFormat, len(fields))
	}
	utime, err := strconv.ParseInt(fields[utimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %v", errProcFormat, err)
	}
	stime, err := strconv.ParseInt(fields[stimeIdx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %v", errProcFormat, err)
	}
	return utime + stime, nil
}

// ticksToDuration converts clock ticks to wall-clock-equivalent CPU time.
func ticksToDuration(ticks int64) time.Duration {
	return time.Duration(ticks) * time.Second / clockTicksPerSecond
}

// peakRSSBytes returns VmHWM (the resident set's high-water mark) of pid.
func peakRSSBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseStatusHWM(bufio.NewScanner(f))
}

// parseStatusHWM finds "VmHWM:   123456 kB" in /proc/<pid>/status lines.
func parseStatusHWM(lines *bufio.Scanner) (int64, error) {
	for lines.Scan() {
		rest, ok := strings.CutPrefix(lines.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%w: VmHWM line %q", errProcFormat, lines.Text())
		}
		kib, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmHWM: %v", errProcFormat, err)
		}
		return kib * 1024, nil
	}
	if err := lines.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%w: no VmHWM line", errProcFormat)
}
