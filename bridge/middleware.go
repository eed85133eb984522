package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cors answers preflights and adds CORS headers for allowed origins. The
// exact origin is always echoed (never "*"), so credentialed requests such
// as sendBeacon's work too.
func (b *Bridge) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := b.originAllowed(origin)
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				writeError(w, errf(http.StatusForbidden, codeForbidden, "Origin "+origin+" is not allowed."))
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (b *Bridge) originAllowed(origin string) bool {
	return slices.Contains(b.cfg.AllowedOrigins, "*") || slices.Contains(b.cfg.AllowedOrigins, origin)
}

// rateLimited guards anonymous endpoints with the per-IP token bucket.
func (b *Bridge) rateLimited(next http.Handler) http.Handler {
	if b.limiter == nil { // rate limiting off: nothing to do per request
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := b.limiter.allow(b.clientIP(r), time.Now())
		if !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			noteErrorCode(w, codeRateLimited)
			writeJSON(w, http.StatusTooManyRequests, contentTypeV2JSON,
				errorBody{ErrorCode: codeRateLimited, Message: "Rate limit exceeded for this client."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the request's remote IP, or the first X-Forwarded-For hop
// when the bridge is configured to trust a proxy in front of it.
func (b *Bridge) clientIP(r *http.Request) string {
	if b.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recordedIP is the client IP as stored in beacon headers: the IP, or a
// salted hash of it when IP hashing is on (pseudonymous, still countable).
func (b *Bridge) recordedIP(r *http.Request) string {
	ip := b.clientIP(r)
	if !b.cfg.HashClientIP {
		return ip
	}
	sum := sha256.Sum256([]byte(b.cfg.IPHashSalt + ip))
	return hex.EncodeToString(sum[:16])
}
