package bridge

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// positions maps partition → next offset to deliver. As an SSE event id it
// is written "p:offset,p:offset" (sorted by partition), so the id of the
// last event a browser saw says exactly where to resume in every partition.
type positions map[int32]int64

func (ps positions) String() string {
	parts := make([]int32, 0, len(ps))
	for p := range ps {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var sb strings.Builder
	for i, p := range parts {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(p)))
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(ps[p], 10))
	}
	return sb.String()
}

func (ps positions) clone() positions {
	c := make(positions, len(ps))
	for p, o := range ps {
		c[p] = o
	}
	return c
}

// ErrBadEventID marks a Last-Event-ID the bridge did not write.
var ErrBadEventID = fmt.Errorf("malformed event id")

// maxEventIDPartitions bounds the partitions a resume id may name: the
// default max.partitions of a whole cluster. An id comes from the client
// (a header or the query string, up to a megabyte): unbounded, one request
// built a map of some 200,000 entries.
const maxEventIDPartitions = 10_000

func parsePositions(s string) (positions, error) {
	if n := strings.Count(s, ",") + 1; n > maxEventIDPartitions {
		return nil, fmt.Errorf("%w: names %d partitions, at most %d", ErrBadEventID, n, maxEventIDPartitions)
	}
	ps := positions{}
	for _, pair := range strings.Split(s, ",") {
		pStr, oStr, ok := strings.Cut(pair, ":")
		p, err1 := strconv.ParseInt(pStr, 10, 32)
		o, err2 := strconv.ParseInt(oStr, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadEventID, s)
		}
		ps[int32(p)] = o
	}
	return ps, nil
}
