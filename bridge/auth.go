package bridge

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/core/auth"
)

// Operations a token can be granted in the bridge config; each stands for
// an ACL operation on the topic (produce = Write, consume = Read).
const (
	opProduce = "produce"
	opConsume = "consume"
	// opDescribe is not grantable by name: produce or consume imply it.
	opDescribe = "describe"
)

// aclOp maps a bridge operation to the ACL operation checked for it.
func aclOp(op string) auth.Operation {
	switch op {
	case opProduce:
		return auth.OpWrite
	case opConsume:
		return auth.OpRead
	}
	return auth.OpDescribe
}

// principal is who made a request: its identity (principal and client IP)
// and the token it presented, if any.
type principal struct {
	id    auth.Identity
	token *Token // nil: anonymous
}

// name is the principal as hooks and ownership checks see it
// ("User:svc", or "User:ANONYMOUS").
func (p principal) name() string { return string(p.id.Principal) }

func (p principal) anonymous() bool { return p.id.Principal == auth.Anonymous }

// authenticator resolves credentials to principals and asks the authorizer.
type authenticator struct {
	tokens []Token
	authz  auth.Authorizer
	// open: no tokens and no real authorizer, so every request is allowed
	// (the bridge logs a warning at start).
	open     bool
	clientIP func(*http.Request) string
	// users verifies HTTP Basic user/password pairs that are not a token
	// (the broker's users); nil: only tokens authenticate.
	users auth.PasswordVerifier
}

func newAuthenticator(cfg Config, clientIP func(*http.Request) string) *authenticator {
	base := cfg.Authorizer
	if _, allowAll := base.(auth.AllowAll); allowAll || base == nil {
		// Without an ACL authorizer the bridge keeps its historic
		// behaviour: open with no tokens, else only the tokens' grants
		// and the public topics.
		if len(cfg.Tokens) == 0 {
			base = auth.AllowAll{}
		} else {
			base = nil
		}
	}
	_, open := base.(auth.AllowAll)
	return &authenticator{
		tokens:   cfg.Tokens,
		authz:    NewGrantAuthorizer(cfg.Tokens, cfg.PublicTopics, base),
		open:     open,
		clientIP: clientIP,
		users:    cfg.PasswordVerifier,
	}
}

// presented is what a request offers as a credential.
type presented struct {
	secret string // a token value (Bearer, X-API-Key, ApiKey, ?access_token=, Basic password)
	user   string // Basic user name ("" otherwise)
	basic  bool   // Basic: the password may also be a bridge user's password
	bad    bool   // an Authorization header the bridge cannot read
}

// credential reads the request's credential: a bearer token, HTTP Basic
// (the token as password, or a user's password), an Elasticsearch-style
// "ApiKey" header (the token itself, or base64 of "id:token"), an
// X-API-Key header, or ?access_token= (EventSource cannot set headers).
// Log shippers whose Elasticsearch output only knows user/password or API
// keys (rsyslog uid/pwd, Fluent Bit HTTP_User, Filebeat api_key) can so
// present a bridge token unchanged.
func credential(r *http.Request) presented {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, _ := strings.Cut(strings.TrimSpace(h), " ")
		v = strings.TrimSpace(v)
		switch strings.ToLower(scheme) {
		case "bearer":
			return presented{secret: v, bad: v == ""}
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(v)
			user, pass, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok || pass == "" {
				return presented{bad: true}
			}
			return presented{secret: pass, user: user, basic: true}
		case "apikey":
			return presented{secret: v, bad: v == ""}
		}
		return presented{bad: true}
	}
	// The canonical spelling, looked up directly: Get would canonicalize
	// "X-API-Key" (an allocation) on every request.
	if k := r.Header["X-Api-Key"]; len(k) > 0 && k[0] != "" {
		return presented{secret: k[0]}
	}
	if r.URL.RawQuery == "" {
		return presented{} // nothing to parse (most beacons)
	}
	return presented{secret: r.URL.Query().Get("access_token")}
}

// identify resolves the request's principal; a presented but unknown
// credential is an error even where anonymous access would do.
func (a *authenticator) identify(r *http.Request) (principal, error) {
	p := principal{id: auth.Identity{Principal: auth.Anonymous, Host: a.clientIP(r)}}
	c := credential(r)
	if c.bad {
		return p, errBadCredentials
	}
	if c.secret == "" {
		return p, nil
	}
	candidates := []string{c.secret}
	if raw, err := base64.StdEncoding.DecodeString(c.secret); err == nil {
		// Elasticsearch API keys are base64("id:key"): the key part is the
		// token (an ApiKey or X-API-Key holding a plain token matches above).
		if _, key, ok := strings.Cut(string(raw), ":"); ok && key != "" {
			candidates = append(candidates, key)
		}
	}
	for _, secret := range candidates {
		for i := range a.tokens {
			if subtle.ConstantTimeCompare([]byte(a.tokens[i].Secret), []byte(secret)) == 1 {
				p.token = &a.tokens[i]
				p.id.Principal = a.tokens[i].principal(i)
				return p, nil
			}
		}
	}
	if c.basic && c.user != "" && a.users != nil && a.users.VerifyPassword(c.user, c.secret) {
		// A broker user (the SCRAM/PLAIN credentials): its principal's
		// ACLs decide, as on the Kafka listener.
		p.id.Principal = auth.User(c.user)
		return p, nil
	}
	return p, errBadCredentials
}

var errBadCredentials = errf(http.StatusUnauthorized, codeUnauthorized, "Invalid credentials.")

var errAuthRequired = errf(http.StatusUnauthorized, codeUnauthorized, "Authentication required: send a bearer token, X-API-Key, ApiKey or Basic credentials.")

// internalTopic: __consumer_offsets, __sluice_plugins, __transaction_state
// and any other "__" topic belong to the broker and are never reachable
// over HTTP; they answer as if they did not exist.
func internalTopic(topic string) bool { return strings.HasPrefix(topic, "__") }

// authorize checks that the request may perform op (opProduce, opConsume)
// on topic: Write or Read on the topic for the request's principal.
func (a *authenticator) authorize(r *http.Request, topic, op string) (principal, error) {
	if internalTopic(topic) {
		return principal{}, ErrTopicNotFound
	}
	p, err := a.identify(r)
	if err != nil {
		return p, err
	}
	if !a.authz.Authorize(p.id, aclOp(op), auth.ResTopic, topic) {
		return p, a.denied(p, op+" topic "+topic)
	}
	return p, nil
}

// authorizeRead re-checks Read on a topic for an already identified
// principal (each REST consumer poll, as Kafka checks every fetch).
func (a *authenticator) authorizeRead(p principal, topic string) error {
	if internalTopic(topic) || !a.authz.Authorize(p.id, auth.OpRead, auth.ResTopic, topic) {
		return a.denied(p, opConsume+" topic "+topic)
	}
	return nil
}

// authorizeGroup checks Read on a consumer group (SSE ?group=, consumer
// instances), as Kafka does for JoinGroup and offset commits.
func (a *authenticator) authorizeGroup(p principal, group string) error {
	if !a.authz.Authorize(p.id, auth.OpRead, auth.ResGroup, group) {
		return a.denied(p, "read group "+group)
	}
	return nil
}

// requireGroup identifies the request and checks Read on its group: the
// gate of every consumer-instance endpoint.
func (a *authenticator) requireGroup(r *http.Request, group string) (principal, error) {
	p, err := a.identify(r)
	if err != nil {
		return p, err
	}
	return p, a.authorizeGroup(p, group)
}

// describable reports whether p may see topic in listings (Describe).
func (a *authenticator) describable(p principal, topic string) bool {
	return !internalTopic(topic) && a.authz.Authorize(p.id, auth.OpDescribe, auth.ResTopic, topic)
}

// denied is 401 for an anonymous caller (a credential might help) and 403
// for an authenticated one.
func (a *authenticator) denied(p principal, what string) error {
	if p.anonymous() {
		return errAuthRequired
	}
	return errf(http.StatusForbidden, codeForbidden, p.name()+" may not "+what+".")
}

// authorizeAnonymous is authorize for beacon and pixel endpoints; public
// topics are a Write grant to User:ANONYMOUS in the grant authorizer.
func (a *authenticator) authorizeAnonymous(r *http.Request, topic string) (principal, error) {
	return a.authorize(r, topic, opProduce)
}

// principal is the token's principal: its configured one, else User:<name>
// (User:bridge-token-<index> for an unnamed token).
func (t *Token) principal(index int) auth.Principal {
	switch {
	case t.Principal != "":
		return auth.Principal(t.Principal)
	case t.Name != "":
		return auth.User(t.Name)
	}
	return auth.User("bridge-token-" + strconv.Itoa(index))
}

// allows reports whether the token's config grants op on topic.
func (t *Token) allows(topic string, op auth.Operation) bool {
	if !t.grantsOp(op) {
		return false
	}
	return matchAny(t.Topics, topic)
}

// grantsOp: produce grants Write, consume grants Read, and either grants
// Describe (as Read and Write imply Describe in Kafka's ACLs).
func (t *Token) grantsOp(op auth.Operation) bool {
	if slices.Contains(t.Operations, "*") {
		return true
	}
	switch op {
	case auth.OpWrite:
		return slices.Contains(t.Operations, opProduce)
	case auth.OpRead:
		return slices.Contains(t.Operations, opConsume)
	case auth.OpDescribe:
		return len(t.Operations) > 0
	}
	return false
}

// matchAny matches exact names, "prefix*" patterns and "*".
func matchAny(patterns []string, name string) bool {
	for _, pat := range patterns {
		if pat == "*" || pat == name {
			return true
		}
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// GrantAuthorizer expresses the bridge config's grants as ACL-equivalent
// allows in front of another authorizer: each token's topics/operations
// (Write, Read, Describe on those topics; Read on its groups, every group
// when it has a consume grant and no "groups" list), and public topics as
// Write (and Describe) for User:ANONYMOUS. What the grants do not allow is
// decided by base (nil: denied), so the grants compose with the ACL
// authorizer: config grants add to ACLs, they never take anything away.
type GrantAuthorizer struct {
	byPrincipal map[auth.Principal][]*Token
	public      []string // topic patterns, as a token's topics
	base        auth.Authorizer
}

// NewGrantAuthorizer builds the adapter over base.
func NewGrantAuthorizer(tokens []Token, publicTopics []string, base auth.Authorizer) *GrantAuthorizer {
	g := &GrantAuthorizer{byPrincipal: map[auth.Principal][]*Token{}, public: publicTopics, base: base}
	for i := range tokens {
		p := tokens[i].principal(i)
		g.byPrincipal[p] = append(g.byPrincipal[p], &tokens[i])
	}
	return g
}

// Authorize implements auth.Authorizer.
func (g *GrantAuthorizer) Authorize(id auth.Identity, op auth.Operation, rt auth.ResourceType, name string) bool {
	switch rt {
	case auth.ResTopic:
		if id.Principal == auth.Anonymous && matchAny(g.public, name) && (op == auth.OpWrite || op == auth.OpDescribe) {
			return true
		}
		for _, t := range g.byPrincipal[id.Principal] {
			if t.allows(name, op) {
				return true
			}
		}
	case auth.ResGroup:
		for _, t := range g.byPrincipal[id.Principal] {
			if op == auth.OpRead && t.grantsOp(auth.OpRead) && (t.Groups == nil || matchAny(t.Groups, name)) {
				return true
			}
		}
	}
	return g.base != nil && g.base.Authorize(id, op, rt, name)
}
