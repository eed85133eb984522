package bridge

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestEventIDPartitionBound: a resume id names at most
// maxEventIDPartitions partitions; one more is a malformed id, refused
// before any is parsed.
func TestEventIDPartitionBound(t *testing.T) {
	id := func(n int) string {
		pairs := make([]string, n)
		for i := range pairs {
			pairs[i] = fmt.Sprintf("%d:%d", i, i*3)
		}
		return strings.Join(pairs, ",")
	}
	ps, err := parsePositions(id(maxEventIDPartitions))
	if err != nil || len(ps) != maxEventIDPartitions || ps[9999] != 29997 {
		t.Fatalf("%d partitions: %d parsed, %v", maxEventIDPartitions, len(ps), err)
	}
	_, err = parsePositions(id(maxEventIDPartitions + 1))
	if !errors.Is(err, ErrBadEventID) || !strings.Contains(err.Error(), "names 10001 partitions, at most 10000") {
		t.Fatalf("%d partitions: %v", maxEventIDPartitions+1, err)
	}
}
