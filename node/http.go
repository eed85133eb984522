package node

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/auth/httpauth"
	"github.com/sluicemq/sluice/core/tlsconf"
	"github.com/sluicemq/sluice/plugins"
)

// AdminOptions configure the admin API (/admin/...) and who may call it
// (docs/security.md, "HTTP").
type AdminOptions struct {
	// Addr, when set, serves the admin API on its own listener (and no
	// longer on the HTTP listener); "off" disables the admin API. Empty:
	// the admin API is served on the HTTP listener.
	Addr string
	// Tokens are admin bearer tokens.
	Tokens []httpauth.Token
	// AllowedOrigins may call the admin API from a browser page.
	AllowedOrigins []string
}

// TLSFiles name a certificate and its key (PEM); both empty: no TLS.
type TLSFiles struct {
	CertFile, KeyFile string
}

// httpTLS builds the HTTP listeners' TLS configuration, with the
// certificate reloaded when its files change or on SIGHUP. nil: plain HTTP.
func httpTLS(ctx context.Context, f TLSFiles, logger *slog.Logger) (*tls.Config, error) {
	if f.CertFile == "" && f.KeyFile == "" {
		return nil, nil
	}
	logger = logger.With("component", "http-tls")
	rl, err := tlsconf.NewReloader(f.CertFile, f.KeyFile, logger)
	if err != nil {
		return nil, err
	}
	reloadOnSIGHUP(ctx, rl, logger)
	return tlsconf.Server(rl, "")
}

// listenHTTP binds an HTTP listener, wrapped in TLS when tlsCfg is set.
func listenHTTP(addr string, tlsCfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// mountAdmin mounts the guarded admin API on r, served by ln.
func mountAdmin(r chi.Router, reg *plugins.Registry, opts Options, ln net.Listener, logger *slog.Logger) *httpauth.Guard {
	g := httpauth.NewGuard(httpauth.AdminConfig{
		Verifier:         opts.PasswordVerifier,
		Tokens:           opts.Admin.Tokens,
		Authorizer:       opts.Authorizer,
		AllowedOrigins:   opts.Admin.AllowedOrigins,
		LoopbackListener: httpauth.IsLoopbackAddr(ln.Addr()),
		Logger:           logger,
	})
	r.Group(func(r chi.Router) {
		r.Use(g.Middleware, noWriteDeadline)
		reg.AdminRoutes(r)
	})
	// The web console lives with the admin API, behind its guard.
	if opts.console != nil {
		opts.console.SetAuthorizer(g.Authorize)
		opts.console.Mount(r, g.Middleware)
	}
	if !g.HasCredentials() {
		if httpauth.IsLoopbackAddr(ln.Addr()) {
			logger.Warn("admin API has no credentials configured: open to local callers on its loopback listener", "addr", ln.Addr().String())
		} else {
			logger.Warn("admin API has no credentials configured and its listener is not loopback-only: every admin request is refused (set --admin-token-file, SCRAM users, or --admin-addr 127.0.0.1:PORT)", "addr", ln.Addr().String())
		}
	}
	return g
}

// noWriteDeadline lifts the listener's write deadline for an admin request
// (once it passed the guard). On the HTTP listener shared with the bridge,
// the bridge's WriteTimeout (60 s) ran out during deploys whose compile
// took a minute on a loaded machine (the compile timeout's default): the
// client saw the connection close with no answer (EOF) while the deploy
// went on. The dedicated admin listener sets no write timeout either.
func noWriteDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		next.ServeHTTP(w, r)
	})
}

// serveAdmin runs the admin API on its own listener (opts.Admin.Addr).
func serveAdmin(reg *plugins.Registry, opts Options, tlsCfg *tls.Config, logger *slog.Logger, closers *closerStack, serveErr chan<- error) (string, error) {
	ln, err := listenHTTP(opts.Admin.Addr, tlsCfg)
	if err != nil {
		return "", err
	}
	closers.pushListener(ln)
	r := chi.NewRouter()
	mountAdmin(r, reg, opts, ln, logger)
	hs := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	if opts.console != nil {
		hs.RegisterOnShutdown(opts.console.EndStreams)
	}
	closers.push(func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			return hs.Close()
		}
		return nil
	})
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	logger.Info("admin listener ready", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	return ln.Addr().String(), nil
}
