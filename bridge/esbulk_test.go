package bridge_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/node"
)

// passwords is a test PasswordVerifier (the broker's SCRAM store in
// production).
type passwords map[string]string

func (p passwords) VerifyPassword(user, password string) bool {
	want, ok := p[user]
	return ok && want == password
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestBulkAuthentication: every way of sending credentials to _bulk
// either authenticates or fails the whole request with 401 (never a 200
// with item-level errors), and a missing topic fails the request with 404.
func TestBulkAuthentication(t *testing.T) {
	t.Parallel()
	acl := aclSet{}
	acl.allow(auth.User("alice"), auth.OpWrite, auth.ResTopic, "logs")
	n := startNodeOpts(t, node.Options{
		Authorizer:       acl,
		PasswordVerifier: passwords{"alice": "wonderland"},
		Bridge: bridge.Config{Tokens: []bridge.Token{
			{Name: "shipper", Secret: "s3cret", Topics: []string{"logs", "nosuch"}, Operations: []string{"produce"}},
		}},
	}, "http", http.DefaultClient)
	n.createTopic(t, "logs", 1)
	doc := `{"index":{"_index":"logs"}}` + "\n" + `{"msg":"x"}` + "\n"
	esKey := base64.StdEncoding.EncodeToString([]byte("key-id:s3cret"))
	cases := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"none", nil, 401},
		{"wrong bearer", []string{"Authorization", "Bearer nope"}, 401},
		{"wrong basic password", []string{"Authorization", basic("shipper", "nope")}, 401},
		{"wrong user password", []string{"Authorization", basic("alice", "nope")}, 401},
		{"malformed basic", []string{"Authorization", "Basic %%%"}, 401},
		{"unknown scheme", []string{"Authorization", "Digest x"}, 401},
		{"wrong api key", []string{"Authorization", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id:nope"))}, 401},
		{"wrong x-api-key", []string{"X-API-Key", "nope"}, 401},
		{"bearer", []string{"Authorization", "Bearer s3cret"}, 200},
		{"basic token as password", []string{"Authorization", basic("shipper", "s3cret")}, 200},
		{"basic any user, token as password", []string{"Authorization", basic("elastic", "s3cret")}, 200},
		{"basic broker user", []string{"Authorization", basic("alice", "wonderland")}, 200},
		{"es api key", []string{"Authorization", "ApiKey " + esKey}, 200},
		{"plain api key", []string{"Authorization", "ApiKey s3cret"}, 200},
		{"x-api-key", []string{"X-API-Key", "s3cret"}, 200},
	}
	accepted := 0
	for _, c := range cases {
		status, body, hdr := do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader(doc), c.hdr...)
		if status != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
		switch status {
		case 401:
			if hdr.Get("WWW-Authenticate") == "" || body != `{"error":{"reason":"`+reason(body)+`","root_cause":[{"type":"security_exception","reason":"`+reason(body)+`"}],"type":"security_exception"},"status":401}` {
				t.Fatalf("%s: 401 headers %v body %s", c.name, hdr, body)
			}
		case 200:
			if !strings.Contains(body, `"errors":false`) || !strings.Contains(body, `"status":201`) {
				t.Fatalf("%s: %s", c.name, body)
			}
			accepted++
		}
	}
	recs := n.readAll(t, "logs", accepted)
	for i, r := range recs {
		if string(r.Value) != `{"msg":"x"}` {
			t.Fatalf("record %d: %s", i, r.Value)
		}
	}

	// A missing topic fails the whole request, even beside a good one;
	// nothing of the batch is written, so the shipper may resend it.
	mixed := doc + `{"index":{"_index":"nosuch"}}` + "\n" + `{"msg":"y"}` + "\n"
	status, body, _ := do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader(mixed), "Authorization", "Bearer s3cret")
	const want404 = `{"error":{"reason":"no such index [nosuch]: topic nosuch does not exist (the bridge does not create topics)","root_cause":[{"type":"index_not_found_exception","reason":"no such index [nosuch]: topic nosuch does not exist (the bridge does not create topics)"}],"type":"index_not_found_exception"},"status":404}`
	if status != 404 || body != want404 {
		t.Fatalf("missing topic: %d %s", status, body)
	}
	// A topic the token is not granted fails the whole request with 403.
	n.createTopic(t, "other", 1)
	status, body, _ = do(t, "POST", n.base+"/_bulk", "application/x-ndjson",
		strings.NewReader(doc+`{"index":{"_index":"other"}}`+"\n{}\n"), "Authorization", "Bearer s3cret")
	if status != 403 || !strings.Contains(body, `"type":"security_exception"`) {
		t.Fatalf("forbidden topic: %d %s", status, body)
	}
	if got := n.totalRecords(t, "logs"); got != int64(accepted) {
		t.Fatalf("logs holds %d records after refused batches, want %d", got, accepted)
	}
	status, body, _ = do(t, "GET", n.base+"/_cat/health", "", nil)
	if status != 200 || !strings.Contains(body, " sluice green ") {
		t.Fatalf("_cat/health: %d %s", status, body)
	}
}

// reason extracts the error reason of an ES error body (the message text
// is not what these cases pin down; its shape is).
func reason(body string) string {
	_, rest, _ := strings.Cut(body, `"reason":"`)
	r, _, _ := strings.Cut(rest, `"`)
	return r
}
