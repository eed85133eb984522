package itest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// saramaLog keeps sarama's own log (retries, metadata refreshes, broken
// connections) so a failing sarama test can say what the client went
// through: sarama logs nowhere by default, and a retried produce is the
// usual cause of an unexpected offset. Tests run in parallel, so the
// lines of several clients interleave; each carries a timestamp.
var saramaLog = newLogRing(2000)

func init() { sarama.Logger = saramaLog }

// logRing is a sarama.StdLogger keeping the newest lines.
type logRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newLogRing(n int) *logRing { return &logRing{lines: make([]string, n)} }

func (r *logRing) add(s string) {
	line := time.Now().Format("15:04:05.000000") + " " + strings.TrimRight(s, "\n")
	r.mu.Lock()
	r.lines[r.next] = line
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *logRing) Print(v ...any)                 { r.add(fmt.Sprint(v...)) }
func (r *logRing) Printf(format string, v ...any) { r.add(fmt.Sprintf(format, v...)) }
func (r *logRing) Println(v ...any)               { r.add(fmt.Sprintln(v...)) }

// tail returns the newest lines that contain match (all with ""), at most
// max of them, oldest first.
func (r *logRing) tail(match string, max int) string {
	r.mu.Lock()
	ordered := r.lines[:r.next] // oldest first until the ring wraps
	if r.full {
		ordered = append(append([]string(nil), r.lines[r.next:]...), r.lines[:r.next]...)
	}
	var out []string
	for _, l := range ordered {
		if strings.Contains(l, match) {
			out = append(out, l)
		}
	}
	r.mu.Unlock()
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return strings.Join(out, "\n")
}
