package bridge

import (
	"net/http"
	"strings"
)

// beaconRoute is the beacon endpoint's chi pattern (and metrics label).
const beaconRoute = "/beacon/{topic}"

// beaconFastPath serves POST /beacon/{topic} — the bridge's hottest route,
// one small request per page event — with the same middleware as the
// router would run (metrics, CORS, enforce_origins, rate limit) but
// without the router itself, which costs a context, a request copy and a
// path-value map per request. Everything else, and any path the route
// would not match exactly, goes to next (the router).
func (b *Bridge) beaconFastPath(next http.Handler) http.Handler {
	beacon := b.instrumentRoute(b.cors(b.originGuard(b.rateLimited(http.HandlerFunc(b.beacon)))), beaconRoute)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if _, ok := beaconTopic(r); ok {
				beacon.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// beaconTopic is the {topic} of a /beacon/{topic} path as chi would match
// it: the raw (escaped) path when there is one, one non-empty segment.
func beaconTopic(r *http.Request) (string, bool) {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	topic, ok := strings.CutPrefix(path, "/beacon/")
	if !ok || topic == "" || strings.IndexByte(topic, '/') >= 0 {
		return "", false
	}
	return topic, true
}
