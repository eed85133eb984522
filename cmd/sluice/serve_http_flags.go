package main

import (
	"flag"
	"strings"

	"github.com/sluicemq/sluice/core/auth/httpauth"
	"github.com/sluicemq/sluice/node"
)

// httpSecurityFlags are serve's flags for the HTTP side's security: the
// admin API's listener and credentials, and TLS (docs/security.md).
type httpSecurityFlags struct {
	adminAddr      string
	adminTokenFile string
	adminOrigins   string
	tlsCert        string
	tlsKey         string
}

func (h *httpSecurityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.adminAddr, "admin-addr", "", "serve the admin API (/admin/...) only on this `HOST:PORT` (e.g. 127.0.0.1:9644), not on --http-addr; \"off\" disables it")
	fs.StringVar(&h.adminTokenFile, "admin-token-file", "", "`FILE` of admin API bearer tokens, one per line: \"TOKEN\" (principal User:admin) or \"User:NAME TOKEN\"")
	fs.StringVar(&h.adminOrigins, "admin-allowed-origins", "", "comma-separated browser `ORIGINS` (scheme://host:port) allowed to call the admin API besides its own")
	fs.StringVar(&h.tlsCert, "http-tls-cert", "", "serve HTTP (bridge and admin API) over TLS with this PEM certificate `FILE` (reloaded when it changes or on SIGHUP)")
	fs.StringVar(&h.tlsKey, "http-tls-key", "", "PEM private key `FILE` of --http-tls-cert")
}

// options validates the flags into node options (Bridge is left alone).
func (h *httpSecurityFlags) options() (node.Options, error) {
	var o node.Options
	if (h.tlsCert == "") != (h.tlsKey == "") {
		return o, &invalidFlagError{"http-tls-cert", h.tlsCert, "--http-tls-cert and --http-tls-key go together"}
	}
	o.HTTPTLS = node.TLSFiles{CertFile: h.tlsCert, KeyFile: h.tlsKey}
	o.Admin.Addr = h.adminAddr
	if h.adminTokenFile != "" {
		toks, err := httpauth.LoadTokenFile(h.adminTokenFile)
		if err != nil {
			return o, &invalidFlagError{"admin-token-file", h.adminTokenFile, err.Error()}
		}
		o.Admin.Tokens = toks
	}
	for _, origin := range strings.Split(h.adminOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.Admin.AllowedOrigins = append(o.Admin.AllowedOrigins, origin)
		}
	}
	return o, nil
}
