// Package httpauth guards Sluice's HTTP admin API (/admin/...): who may
// call it (HTTP Basic checked by an auth.PasswordVerifier, or a bearer
// token from the configuration), what that principal may do (the shared
// auth.Authorizer), and that a web page cannot make an operator's browser
// call it (Origin allow-list, no simple-request content types).
//
// Safe default: with no admin credential source configured (no verifier,
// no tokens) the admin API answers only on a listener bound to a loopback
// address, and only to requests whose Host names that loopback address
// (which defeats DNS rebinding); the caller is then User:ANONYMOUS and
// still goes through the authorizer. Anywhere else it answers 401.
package httpauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/sluicemq/sluice/core/auth"
)

// Token is an admin bearer token and the principal it authenticates as.
type Token struct {
	Principal auth.Principal
	Secret    string
}

// AdminConfig configures the admin API guard.
type AdminConfig struct {
	// Verifier checks HTTP Basic user/password (SCRAM credentials); nil
	// disables Basic.
	Verifier auth.PasswordVerifier
	// Tokens are accepted as "Authorization: Bearer <secret>".
	Tokens []Token
	// Authorizer decides what an authenticated administrator may do:
	// Alter on the Cluster for changes, Describe on the Cluster for reads.
	// nil is auth.AllowAll.
	Authorizer auth.Authorizer
	// AllowedOrigins may call the admin API from a browser ("scheme://host
	// [:port]" exactly). Same-origin requests are always allowed.
	AllowedOrigins []string
	// LoopbackListener is set when the listener serving the admin API is
	// bound to a loopback address only: then, with no credential source,
	// local callers are let in as User:ANONYMOUS.
	LoopbackListener bool
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Guard is the admin API middleware.
type Guard struct {
	cfg AdminConfig
	log *slog.Logger
	// verifying bounds concurrent password checks: a SCRAM check costs
	// thousands of hash iterations, and unauthenticated callers choose
	// how many to start.
	verifying chan struct{}
}

// NewGuard builds the guard.
func NewGuard(cfg AdminConfig) *Guard {
	if cfg.Authorizer == nil {
		cfg.Authorizer = auth.AllowAll{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{cfg: cfg, log: cfg.Logger.With("component", "admin-api"), verifying: make(chan struct{}, max(2, runtime.NumCPU()/2))}
}

// HasCredentials reports whether an admin credential source is configured.
func (g *Guard) HasCredentials() bool { return g.cfg.Verifier != nil || len(g.cfg.Tokens) > 0 }

// ErrorResponse is the body of the guard's refusals (the admin API's error
// shape).
type ErrorResponse struct {
	Error string `json:"error"`
}

// simpleContentTypes are the request content types a cross-site page can
// send without a CORS preflight (an HTML form or a no-cors fetch), so a
// state-changing request carrying one may be forged.
var simpleContentTypes = []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}

// Middleware refuses requests that are not from an authorized
// administrator: 403 for a forbidden Origin or content type, 401 for
// missing or bad credentials, 403 when the authorizer says no.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// CSRF checks come first: a forged request is refused whatever
		// credentials the browser attached to it.
		if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(r, origin) {
			g.refuse(w, r, http.StatusForbidden, "origin "+origin+" is not allowed to call the admin API", "")
			return
		}
		if stateChanging(r.Method) {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if slices.Contains(simpleContentTypes, strings.ToLower(mt)) {
				g.refuse(w, r, http.StatusForbidden, "content type "+mt+" is not accepted by the admin API (send the module as application/wasm or application/octet-stream)", "")
				return
			}
		}
		id, ok, msg := g.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice-admin", charset="UTF-8"`)
			w.Header().Add("WWW-Authenticate", `Bearer realm="sluice-admin"`)
			g.refuse(w, r, http.StatusUnauthorized, msg, id.Principal)
			return
		}
		op := auth.OpAlter
		if !stateChanging(r.Method) {
			op = auth.OpDescribe
		}
		if !g.cfg.Authorizer.Authorize(id, op, auth.ResCluster, auth.ClusterResource) {
			g.refuse(w, r, http.StatusForbidden, string(id.Principal)+" is not authorized to "+opName(op)+" the cluster", id.Principal)
			return
		}
		if op == auth.OpAlter {
			// An audit trail of who changed what (not the query's config
			// values: they may hold secrets).
			q := r.URL.Query()
			g.log.Info("admin API change", "principal", string(id.Principal), "host", id.Host, "method", r.Method,
				"path", r.URL.Path, "name", q.Get("name"), "hook", q.Get("hook"), "topic", q.Get("topic"))
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

func opName(op auth.Operation) string {
	if op == auth.OpAlter {
		return "alter"
	}
	return "describe"
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authenticate resolves the caller. ok=false carries the reason for 401.
func (g *Guard) authenticate(r *http.Request) (id auth.Identity, ok bool, msg string) {
	id = auth.Identity{Principal: auth.Anonymous, Host: remoteHost(r)}
	h := r.Header.Get("Authorization")
	if h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		switch strings.ToLower(scheme) {
		case "bearer":
			for _, t := range g.cfg.Tokens {
				if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(cred)) == 1 {
					id.Principal = t.Principal
					return id, true, ""
				}
			}
			return id, false, "invalid bearer token"
		case "basic":
			user, pass, okBasic := r.BasicAuth()
			if !okBasic || g.cfg.Verifier == nil || !g.verify(r, user, pass) {
				return id, false, "invalid user name or password"
			}
			id.Principal = auth.User(user)
			return id, true, ""
		}
		return id, false, "unsupported authorization scheme " + scheme
	}
	if g.HasCredentials() {
		return id, false, "authentication required: HTTP Basic (user and password) or a bearer token"
	}
	if !g.cfg.LoopbackListener {
		return id, false, "the admin API is closed: no admin credentials are configured (--admin-token-file or SCRAM users) and its listener is not loopback-only (--admin-addr 127.0.0.1:PORT)"
	}
	if !loopbackHost(r.Host) {
		// A page that rebinds its own DNS name to 127.0.0.1 sends that
		// name as Host; a local tool sends localhost or the IP.
		return id, false, "without admin credentials the admin API answers only to Host localhost, 127.0.0.1 or [::1]"
	}
	return id, true, ""
}

// verify checks a password with at most cap(g.verifying) checks running.
func (g *Guard) verify(r *http.Request, user, pass string) bool {
	select {
	case g.verifying <- struct{}{}:
	case <-r.Context().Done():
		return false
	}
	defer func() { <-g.verifying }()
	return g.cfg.Verifier.VerifyPassword(user, pass)
}

// originAllowed: same-origin, or listed.
func (g *Guard) originAllowed(r *http.Request, origin string) bool {
	if slices.Contains(g.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null" (sandboxed frames, data: URLs)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, code int, msg string, p auth.Principal) {
	g.log.Warn("admin API request refused", "status", code, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "principal", string(p), "reason", msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(ErrorResponse{Error: msg})
}

// IsLoopbackAddr reports whether a bound listener address is a loopback
// IP (127.0.0.0/8, ::1); an unspecified address (0.0.0.0, ::) is not.
func IsLoopbackAddr(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoadTokenFile reads admin bearer tokens: one per line, either "SECRET"
// (principal User:admin) or "PRINCIPAL SECRET" (e.g. "User:ops s3cr3t...").
// Blank lines and lines starting with # are skipped. Secrets shorter than
// MinTokenLength are refused: a guessable admin token is no protection.
func LoadTokenFile(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Token
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		t := Token{Principal: auth.User("admin")}
		switch len(f) {
		case 1:
			t.Secret = f[0]
		case 2:
			if !strings.Contains(f[0], ":") {
				return nil, fmt.Errorf("%s:%d: principal %q must look like User:NAME", path, i+1, f[0])
			}
			t.Principal, t.Secret = auth.Principal(f[0]), f[1]
		default:
			return nil, fmt.Errorf("%s:%d: want \"SECRET\" or \"PRINCIPAL SECRET\"", path, i+1)
		}
		if len(t.Secret) < MinTokenLength {
			return nil, fmt.Errorf("%s:%d: token shorter than %d characters", path, i+1, MinTokenLength)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return out, nil
}

// MinTokenLength is the shortest admin token accepted.
const MinTokenLength = 16

type identityKey struct{}

// IdentityFrom is the caller the guard let through (for handlers that
// check more than the guard's Cluster permission). ok is false outside
// the guard.
func IdentityFrom(ctx context.Context) (auth.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(auth.Identity)
	return id, ok
}

// Authorize asks the guard's authorizer whether the caller of r (who
// passed the middleware) may do op on the resource, as a Kafka request
// of that principal would be checked. A request that did not pass the
// guard is refused.
func (g *Guard) Authorize(r *http.Request, op auth.Operation, rt auth.ResourceType, name string) bool {
	id, ok := IdentityFrom(r.Context())
	return ok && g.cfg.Authorizer.Authorize(id, op, rt, name)
}
