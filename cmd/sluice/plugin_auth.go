package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// adminCredFlags are how `sluice plugin` authenticates to the admin API:
// HTTP Basic with a SCRAM user (--user, --password-file or SLUICE_USER /
// SLUICE_PASSWORD) or a bearer token (--admin-token-file or
// SLUICE_ADMIN_TOKEN); --tls-ca trusts the broker's HTTPS certificate.
type adminCredFlags struct {
	user, passwordFile, tokenFile, tlsCA string
}

func (f *adminCredFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.user, "user", "", "admin API user `NAME` for HTTP Basic (env SLUICE_USER)")
	fs.StringVar(&f.passwordFile, "password-file", "", "`FILE` holding the user's password (or env SLUICE_PASSWORD)")
	fs.StringVar(&f.tokenFile, "admin-token-file", "", "`FILE` whose first line is an admin bearer token (or env SLUICE_ADMIN_TOKEN)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM `FILE` of the CA that signed the broker's HTTPS certificate")
}

// apply fills the client's credentials and TLS trust into api.
func (f *adminCredFlags) apply(fs *flag.FlagSet, api *pluginAPI) error {
	if err := fillFromEnv(fs, "user"); err != nil {
		return err
	}
	if f.user != "" {
		pw := os.Getenv("SLUICE_PASSWORD")
		if f.passwordFile != "" {
			b, err := os.ReadFile(f.passwordFile)
			if err != nil {
				return err
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if pw == "" {
			return errors.New("--user needs --password-file or SLUICE_PASSWORD")
		}
		api.user, api.password = f.user, pw
	}
	api.token = os.Getenv("SLUICE_ADMIN_TOKEN")
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		fields := strings.Fields(line) // "TOKEN" or "PRINCIPAL TOKEN", as --admin-token-file of serve
		if len(fields) == 0 {
			return fmt.Errorf("%s: no token on its first line", f.tokenFile)
		}
		api.token = fields[len(fields)-1]
	}
	api.client = http.DefaultClient
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificates", f.tlsCA)
		}
		api.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	return nil
}

// authorize adds the credentials to an admin request.
func (a *pluginAPI) authorize(req *http.Request) {
	switch {
	case a.token != "":
		req.Header.Set("Authorization", "Bearer "+a.token)
	case a.user != "":
		req.SetBasicAuth(a.user, a.password)
	}
}
