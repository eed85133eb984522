package bridge

import (
	"net/http"
	"net/url"
	"strings"
)

// originGuard enforces enforce_origins on a write route: a browser request
// from a page whose origin is not allowed is refused before anything is
// read or written. It stops other sites' pages from spending this site's
// quota and filling its topics; it is not authentication (curl sends any
// Origin it likes, or none).
func (b *Bridge) originGuard(next http.Handler) http.Handler {
	if !b.cfg.EnforceOrigins {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := requestOrigin(r)
		if origin == "" || b.originAllowed(origin) || sameOrigin(r, origin) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, errf(http.StatusForbidden, codeOriginForbidden,
			"Origin "+origin+" may not write here (enforce_origins)."))
	})
}

// requestOrigin is the Origin header, else the origin of the Referer
// (image pixels and some same-site requests carry no Origin), lower case;
// "" when the request says nothing about its page (not a browser, or a
// stripped referrer).
func requestOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return strings.ToLower(o) // "null" (sandboxed or file: pages) is never allowed
	}
	if ref := r.Referer(); ref != "" {
		if u, err := url.Parse(ref); err == nil && u.Scheme != "" && u.Host != "" {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	return ""
}

// sameOrigin: pages the bridge serves itself (examples_dir) write to it
// without being listed.
func sameOrigin(r *http.Request, origin string) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+strings.ToLower(r.Host)
}
