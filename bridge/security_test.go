package bridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// aclSet is a small test authorizer: exact (principal, host, operation,
// resource type, name) allows. The real ACL authorizer is another
// package; the bridge only sees auth.Authorizer.
type aclSet map[string]bool

func aclKey(p auth.Principal, host string, op auth.Operation, rt auth.ResourceType, name string) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s", p, host, op, rt, name)
}

func (a aclSet) allow(p auth.Principal, op auth.Operation, rt auth.ResourceType, name string) {
	a[aclKey(p, "127.0.0.1", op, rt, name)] = true
}

func (a aclSet) Authorize(id auth.Identity, op auth.Operation, rt auth.ResourceType, name string) bool {
	return a[aclKey(id.Principal, id.Host, op, rt, name)]
}

// startNodeOpts is startNode with full node options (authorizer, TLS).
func startNodeOpts(t *testing.T, opts node.Options, scheme string, client *http.Client) *testNode {
	t.Helper()
	n := testkit.StartNode(t, testkit.WithOptions(opts))
	return &testNode{kafka: n.Addrs.Kafka, base: scheme + "://" + n.Addrs.HTTP, adm: kadm.NewClient(n.Client(t))}
}

// TestBridgeTokenPrincipalACL: a token is a principal; what it may do is
// the authorizer's answer for that principal and the client's IP.
func TestBridgeTokenPrincipalACL(t *testing.T) {
	t.Parallel()
	acl := aclSet{}
	svc := auth.User("svc")
	acl.allow(svc, auth.OpWrite, auth.ResTopic, "orders")
	acl.allow(svc, auth.OpRead, auth.ResTopic, "orders")
	acl.allow(svc, auth.OpDescribe, auth.ResTopic, "orders")
	acl.allow(svc, auth.OpRead, auth.ResGroup, "g1")
	acl.allow(auth.Anonymous, auth.OpWrite, auth.ResTopic, "acl-public")
	// Only from another host: must not apply to 127.0.0.1.
	acl[aclKey(svc, "10.9.9.9", auth.OpWrite, auth.ResTopic, "payments")] = true
	n := startNodeOpts(t, node.Options{Authorizer: acl, Bridge: bridge.Config{
		PublicTopics: []string{"web"},
		// No grants in the config: the authorizer decides everything.
		Tokens: []bridge.Token{{Name: "svc-token", Principal: "User:svc", Secret: "svc-secret"}},
	}}, "http", http.DefaultClient)
	for _, topic := range []string{"orders", "payments", "web", "acl-public", "private"} {
		n.createTopic(t, topic, 1)
	}
	svcAuth := []string{"Authorization", "Bearer svc-secret"}
	ct := "application/vnd.kafka.json.v2+json"
	const needAuth = `{"error_code":40101,"message":"Authentication required: send a bearer token, X-API-Key, ApiKey or Basic credentials."}`
	const notFound = `{"error_code":40401,"message":"Topic not found."}`
	cases := []struct {
		method, path, ct string
		hdr              []string
		status           int
		want             string
	}{
		{"POST", "/topics/orders", ct, svcAuth, 200, ""},
		{"POST", "/topics/payments", ct, svcAuth, 403, `{"error_code":40301,"message":"User:svc may not produce topic payments."}`},
		{"POST", "/topics/orders", ct, nil, 401, needAuth},
		{"POST", "/topics/orders/ndjson", "application/x-ndjson", svcAuth, 200, ""},
		{"POST", "/beacon/web", "text/plain", nil, 204, ""},
		{"POST", "/beacon/acl-public", "text/plain", nil, 204, ""},
		{"POST", "/beacon/orders", "text/plain", nil, 401, needAuth},
		{"POST", "/beacon/private", "text/plain", nil, 401, needAuth},
		{"POST", "/beacon/private", "text/plain", svcAuth, 403, `{"error_code":40301,"message":"User:svc may not produce topic private."}`},
		{"GET", "/topics/orders", "", svcAuth, 200, ""},
		{"GET", "/topics/payments", "", svcAuth, 403, `{"error_code":40301,"message":"User:svc may not describe topic payments."}`},
		{"GET", "/topics/payments/events", "", svcAuth, 403, `{"error_code":40301,"message":"User:svc may not consume topic payments."}`},
		{"GET", "/topics/orders/events?group=g2", "", svcAuth, 403, `{"error_code":40301,"message":"User:svc may not read group g2."}`},
		{"GET", "/topics/orders/events?group=g1", "", nil, 401, needAuth},
		{"POST", "/consumers/g2", "application/vnd.kafka.v2+json", svcAuth, 403, `{"error_code":40301,"message":"User:svc may not read group g2."}`},
		{"POST", "/consumers/g1", "application/vnd.kafka.v2+json", svcAuth, 200, ""},
		// Internal topics: as if they did not exist, whatever the grants.
		{"POST", "/topics/__consumer_offsets", ct, svcAuth, 404, notFound},
		{"POST", "/beacon/__sluice_plugins", "text/plain", nil, 404, notFound},
		{"GET", "/topics/__consumer_offsets/events?from=earliest", "", svcAuth, 404, notFound},
		{"GET", "/topics/__sluice_plugins", "", svcAuth, 404, notFound},
	}
	for _, c := range cases {
		body := io.Reader(nil)
		switch {
		case strings.HasPrefix(c.path, "/beacon/"):
			body = strings.NewReader(`{"ev":1}`)
		case strings.HasSuffix(c.path, "/ndjson"):
			body = strings.NewReader("{\"v\":1}\n")
		case strings.HasPrefix(c.path, "/consumers/"):
			body = strings.NewReader(`{"format":"json"}`)
		case c.method == "POST":
			body = strings.NewReader(`{"records":[{"value":1}]}`)
		}
		status, resp, _ := do(t, c.method, n.base+c.path, c.ct, body, c.hdr...)
		if status != c.status || (c.want != "" && resp != c.want) {
			t.Fatalf("%s %s %v: %d %s", c.method, c.path, c.hdr, status, resp)
		}
	}
	// Streams the principal may read open (the group one needs g1).
	for _, path := range []string{"/topics/orders/events?from=earliest", "/topics/orders/events?group=g1"} {
		s := openStream(t, n.base+path, svcAuth...)
		s.close()
	}
	// Elasticsearch bulk: a topic the principal may not write fails the
	// whole request (nothing written), an internal topic does not exist.
	bulk := `{"index":{"_index":"orders"}}` + "\n" + `{"a":1}` + "\n" +
		`{"index":{"_index":"payments"}}` + "\n" + `{"a":2}` + "\n"
	status, resp, _ := do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader(bulk), svcAuth...)
	if status != 403 || !strings.Contains(resp, `"type":"security_exception"`) {
		t.Fatalf("bulk to a forbidden topic: %d %s", status, resp)
	}
	status, resp, _ = do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader(`{"index":{"_index":"__sluice_plugins"}}`+"\n{}\n"), svcAuth...)
	if status != 404 || !strings.Contains(resp, `"type":"index_not_found_exception"`) {
		t.Fatalf("bulk to an internal topic: %d %s", status, resp)
	}
	status, resp, _ = do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader(`{"index":{"_index":"orders"}}`+"\n{\"a\":1}\n"), svcAuth...)
	if status != 200 || !strings.Contains(resp, `"status":201`) {
		t.Fatalf("bulk: %d %s", status, resp)
	}
	// Listing shows what the principal may describe, never internal topics.
	status, resp, _ = do(t, "GET", n.base+"/topics", "", nil, svcAuth...)
	var names []string
	if status != 200 || json.Unmarshal([]byte(resp), &names) != nil || strings.Join(names, ",") != "orders" {
		t.Fatalf("list topics: %d %s", status, resp)
	}
	// Exactly what was allowed was written.
	n.readAll(t, "orders", 3) // produce, ndjson, bulk
	n.readAll(t, "web", 1)
	n.readAll(t, "acl-public", 1)
	for _, topic := range []string{"payments", "private"} {
		if got := n.totalRecords(t, topic); got != 0 {
			t.Fatalf("%s holds %d records", topic, got)
		}
	}
}

// TestBridgeInternalTopicsUnreachableWhenOpen: even an open bridge (no
// tokens, no authorizer) never serves "__" topics.
func TestBridgeInternalTopicsUnreachableWhenOpen(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "plain", 1)
	// A simple (admin) commit creates __consumer_offsets. No group member
	// joins: a joined member's leave would write group metadata later
	// and race the count below.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var offs kadm.Offsets
	offs.AddOffset("plain", 0, 0, -1)
	committed, err := n.adm.CommitOffsets(ctx, "g", offs)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	before := n.totalRecords(t, "__consumer_offsets")
	const notFound = `{"error_code":40401,"message":"Topic not found."}`
	for _, c := range []struct{ method, path, ct, body string }{
		{"POST", "/topics/__consumer_offsets", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`},
		{"POST", "/topics/__consumer_offsets/partitions/0", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`},
		{"POST", "/topics/__sluice_plugins/ndjson", "application/x-ndjson", "{}\n"},
		{"POST", "/beacon/__consumer_offsets", "text/plain", "{}"},
		{"GET", "/pixel/__consumer_offsets.gif", "", ""},
		{"GET", "/topics/__consumer_offsets/events?from=earliest", "", ""},
		{"GET", "/topics/__consumer_offsets", "", ""},
	} {
		status, resp, _ := do(t, c.method, n.base+c.path, c.ct, strings.NewReader(c.body))
		if c.path == "/pixel/__consumer_offsets.gif" {
			// The pixel always answers an image; nothing may be written.
			continue
		}
		if status != 404 || resp != notFound {
			t.Fatalf("%s %s: %d %s", c.method, c.path, status, resp)
		}
	}
	status, resp, _ := do(t, "GET", n.base+"/topics", "", nil)
	var names []string
	if status != 200 || json.Unmarshal([]byte(resp), &names) != nil || !slices.Contains(names, "plain") {
		t.Fatalf("list: %d %s", status, resp)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "__") {
			t.Fatalf("internal topic %s listed: %v", name, names)
		}
	}
	// Nothing was written to __consumer_offsets over HTTP.
	if got := n.totalRecords(t, "__consumer_offsets"); got != before || before == 0 {
		t.Fatalf("__consumer_offsets holds %d records, had %d", got, before)
	}
}

// writeTLSPair writes a self-signed certificate for 127.0.0.1 and returns
// a pool trusting it.
func writeTLSPair(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sluice-http-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "http.crt"), filepath.Join(dir, "http.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestBridgeOverTLS: --http-tls-cert/--http-tls-key serve the bridge over
// HTTPS (TLS 1.2+); plain HTTP on that port gets no answer it can use.
func TestBridgeOverTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeTLSPair(t, t.TempDir())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	n := startNodeOpts(t, node.Options{HTTPTLS: node.TLSFiles{CertFile: certFile, KeyFile: keyFile}}, "https", client)
	n.createTopic(t, "secure", 1)
	req, _ := http.NewRequest("POST", n.base+"/topics/secure", strings.NewReader(`{"records":[{"value":"over tls"}]}`))
	req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https produce: %d %+v", resp.StatusCode, resp.TLS)
	}
	if recs := n.readAll(t, "secure", 1); string(recs[0].Value) != `"over tls"` {
		t.Fatalf("value %s", recs[0].Value)
	}
	plain := "http://" + strings.TrimPrefix(n.base, "https://")
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	if _, err := http.Get(n.base + "/healthz"); err == nil {
		t.Fatal("untrusted certificate accepted by a default client")
	}
}
