package httpauth_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/auth/httpauth"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func serve(t *testing.T, cfg httpauth.AdminConfig) string {
	t.Helper()
	cfg.Logger = quiet
	g := httpauth.NewGuard(cfg)
	srv := httptest.NewServer(g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, u string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/wasm")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A listener that is not loopback-only (e.g. 0.0.0.0) with no credential
// source: the admin API is closed, even to local callers and AllowAll.
func TestClosedWithoutCredentialsOffLoopback(t *testing.T) {
	u := serve(t, httpauth.AdminConfig{Authorizer: auth.AllowAll{}, LoopbackListener: false})
	code, body := post(t, u)
	if code != 401 || !strings.Contains(body, "the admin API is closed: no admin credentials are configured") {
		t.Fatalf("%d %s", code, body)
	}
	u = serve(t, httpauth.AdminConfig{LoopbackListener: true})
	if code, body = post(t, u); code != 201 {
		t.Fatalf("loopback listener: %d %s", code, body)
	}
	// An Authorization header with nothing to check it against fails.
	if code, _ = post(t, u, "Authorization", "Basic YTpi"); code != 401 {
		t.Fatalf("basic without verifier: %d", code)
	}
	if code, _ = post(t, u, "Origin", "http://attacker.example"); code != 403 {
		t.Fatalf("foreign origin: %d", code)
	}
}

func TestAllowedOriginsAndTokens(t *testing.T) {
	u := serve(t, httpauth.AdminConfig{AllowedOrigins: []string{"https://console.example"},
		Tokens: []httpauth.Token{{Principal: "User:ops", Secret: "0123456789abcdefXYZ"}}})
	if code, body := post(t, u, "Origin", "https://console.example", "Authorization", "Bearer 0123456789abcdefXYZ"); code != 201 {
		t.Fatalf("allowed origin: %d %s", code, body)
	}
	if code, _ := post(t, u, "Origin", "https://console.example.evil", "Authorization", "Bearer 0123456789abcdefXYZ"); code != 403 {
		t.Fatalf("look-alike origin: %d", code)
	}
	if code, _ := post(t, u, "Authorization", "Digest x"); code != 401 {
		t.Fatalf("digest: %d", code)
	}
}

func TestLoadTokenFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	os.WriteFile(f, []byte("# admins\n0123456789abcdef\n\nUser:ops fedcba9876543210zz\n"), 0o600)
	toks, err := httpauth.LoadTokenFile(f)
	if err != nil || len(toks) != 2 || toks[0].Principal != "User:admin" || toks[0].Secret != "0123456789abcdef" ||
		toks[1].Principal != "User:ops" || toks[1].Secret != "fedcba9876543210zz" {
		t.Fatalf("%+v %v", toks, err)
	}
	for _, bad := range []string{"short\n", "ops 0123456789abcdef\n", "a b c\n", "# nothing\n"} {
		os.WriteFile(f, []byte(bad), 0o600)
		if _, err := httpauth.LoadTokenFile(f); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
