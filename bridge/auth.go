package bridge

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
)

// Operations a token can be granted.
const (
	opProduce = "produce"
	opConsume = "consume"
)

// principal is who made a request: a configured token, or anonymous.
type principal struct {
	token *Token // nil: anonymous
}

func (p principal) name() string {
	if p.token == nil {
		return ""
	}
	return p.token.Name
}

// authenticator checks tokens and grants.
type authenticator struct {
	tokens []Token
	public map[string]bool
}

func newAuthenticator(cfg Config) *authenticator {
	a := &authenticator{tokens: cfg.Tokens, public: map[string]bool{}}
	for _, t := range cfg.PublicTopics {
		a.public[t] = true
	}
	return a
}

// open reports whether no tokens are configured: everything is allowed.
func (a *authenticator) open() bool { return len(a.tokens) == 0 }

// credential is the secret a request presents: a bearer token, an
// X-API-Key header, or ?access_token= (EventSource cannot set headers).
func credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if v, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(v)
		}
		return ""
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	return r.URL.Query().Get("access_token")
}

// identify resolves the request's principal; a presented but unknown
// credential is an error even where anonymous access would do.
func (a *authenticator) identify(r *http.Request) (principal, error) {
	secret := credential(r)
	if secret == "" {
		return principal{}, nil
	}
	for i := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(a.tokens[i].Secret), []byte(secret)) == 1 {
			return principal{token: &a.tokens[i]}, nil
		}
	}
	return principal{}, errf(http.StatusUnauthorized, codeUnauthorized, "Invalid credentials.")
}

// authorize checks that the request may perform op on topic.
func (a *authenticator) authorize(r *http.Request, topic, op string) (principal, error) {
	p, err := a.identify(r)
	if err != nil {
		return p, err
	}
	if a.open() {
		return p, nil
	}
	if p.token == nil {
		return p, errf(http.StatusUnauthorized, codeUnauthorized, "Authentication required: send a bearer token or X-API-Key.")
	}
	if !p.token.allows(topic, op) {
		return p, errf(http.StatusForbidden, codeForbidden, "Token "+p.token.Name+" may not "+op+" topic "+topic+".")
	}
	return p, nil
}

// authorizeAnonymous is authorize for beacon and pixel endpoints: public
// topics need no credential.
func (a *authenticator) authorizeAnonymous(r *http.Request, topic string) (principal, error) {
	if a.public[topic] {
		return a.identify(r)
	}
	return a.authorize(r, topic, opProduce)
}

func (t *Token) allows(topic, op string) bool {
	if !slices.Contains(t.Operations, op) && !slices.Contains(t.Operations, "*") {
		return false
	}
	for _, pat := range t.Topics {
		if pat == "*" || pat == topic {
			return true
		}
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}
