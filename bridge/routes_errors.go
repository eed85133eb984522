package bridge

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// routeErrorMethods are the methods probed to build a 405's Allow header.
var routeErrorMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// routeErrors makes unknown paths 404 and known paths asked with another
// method 405, both with a v2 error body and CORS headers for allowed
// origins. chi's defaults answer an empty 405 with one Allow line per
// method, and, because the bridge routes OPTIONS on every path (for
// preflights), even unknown paths would be 405.
func (b *Bridge) routeErrors(r chi.Router) {
	r.NotFound(b.instrument(b.cors(http.HandlerFunc(b.notFound))).ServeHTTP)
	r.MethodNotAllowed(b.instrument(b.cors(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b.methodNotAllowed(r, w, req)
	}))).ServeHTTP)
}

func (b *Bridge) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, errf(http.StatusNotFound, codeNotFound, "No route for "+r.Method+" "+r.URL.Path+"."))
}

// methodNotAllowed lists the methods the path does answer. OPTIONS
// matches every path, so a path that only OPTIONS matches is unknown: 404.
func (b *Bridge) methodNotAllowed(routes chi.Routes, w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range routeErrorMethods {
		if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		b.notFound(w, r)
		return
	}
	allowed = append(allowed, http.MethodOptions)
	list := strings.Join(allowed, ", ")
	w.Header().Set("Allow", list)
	writeError(w, errf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"Method "+r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+list+"."))
}
