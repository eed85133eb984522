package plugins

import (
	"net/http"
	"sync"
	"time"
)

// Metrics of a removed plugin (undeployed, unbound by its topic's
// deletion, or a shadow that ended) stay on /metrics until a scrape saw
// them: a removal queues the deletion of its series, and MetricsHandler
// runs the queued deletions after each complete scrape. So the scrape
// after a removal still shows the plugin's final counts (its last errors
// included) and the one after that no longer does. Without any scrape,
// queued series are dropped RetiredMetricsGrace after their removal, so a
// broker nobody scrapes does not keep them forever. A plugin deployed
// again under the same name before the scrape keeps its series (they
// continue counting from the removed version's values).
const RetiredMetricsGrace = time.Hour

// retiredSeries is one removed plugin's (or shadow's) series, waiting
// for a scrape.
type retiredSeries struct {
	name   string // plugin name
	shadow bool
	seq    uint64
	at     time.Time
	forget func()
}

// retired is process-wide, like the default Prometheus registry the
// series live in.
var retired struct {
	mu   sync.Mutex
	seq  uint64
	list []retiredSeries
}

// retire queues forget (which deletes the series of plugin name, or of
// its shadow) until the next complete scrape.
func retire(name string, shadow bool, forget func()) {
	retired.mu.Lock()
	defer retired.mu.Unlock()
	retired.seq++
	now := time.Now()
	var expired []func()
	keep := retired.list[:0]
	for _, e := range retired.list {
		if now.Sub(e.at) > RetiredMetricsGrace {
			expired = append(expired, e.forget)
			continue
		}
		keep = append(keep, e)
	}
	retired.list = append(keep, retiredSeries{name: name, shadow: shadow, seq: retired.seq, at: now, forget: forget})
	for _, f := range expired {
		f()
	}
}

// unretire cancels the queued deletion of name's (or its shadow's)
// series: a version under the same name is about to own them. It is
// called before that version's module loads (whose series the deletion
// would otherwise orphan) and returns what it cancelled, for requeue if
// the deploy fails.
func unretire(name string, shadow bool) []retiredSeries {
	retired.mu.Lock()
	defer retired.mu.Unlock()
	var out []retiredSeries
	retired.list = removeRetired(retired.list, func(e retiredSeries) bool {
		if e.name == name && e.shadow == shadow {
			out = append(out, e)
			return true
		}
		return false
	})
	return out
}

// requeue puts back what unretire cancelled (the deploy failed).
func requeue(es []retiredSeries) {
	if len(es) == 0 {
		return
	}
	retired.mu.Lock()
	defer retired.mu.Unlock()
	retired.list = append(retired.list, es...)
}

func removeRetired(list []retiredSeries, match func(retiredSeries) bool) []retiredSeries {
	out := list[:0]
	for _, e := range list {
		if !match(e) {
			out = append(out, e)
		}
	}
	clear(list[len(out):])
	return out
}

// MetricsHandler wraps the /metrics handler h: after each scrape that
// completed, the series of plugins removed before it began are deleted
// (see RetiredMetricsGrace).
func MetricsHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		retired.mu.Lock()
		upTo := retired.seq
		retired.mu.Unlock()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rw, req)
		if rw.code != http.StatusOK || req.Context().Err() != nil {
			return // the scraper did not get them
		}
		retired.mu.Lock()
		var due []func()
		retired.list = removeRetired(retired.list, func(e retiredSeries) bool {
			if e.seq <= upTo {
				due = append(due, e.forget)
				return true
			}
			return false
		})
		// Deleting under the lock keeps an unretire (a redeploy under the
		// same name) from racing with the deletion of its series.
		for _, f := range due {
			f()
		}
		retired.mu.Unlock()
	})
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
