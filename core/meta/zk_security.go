package meta

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZKSecurity secures the store's ZooKeeper session and the znodes it
// creates (docs/security.md, "ZooKeeper"; docs/zookeeper-layout.md lists
// the ACL of every path).
type ZKSecurity struct {
	// Digest is "user:password" for ZooKeeper's digest scheme. The session
	// authenticates with it before any other request; the client re-sends
	// it on every reconnect and on every new session after an expiry, ahead
	// of queued requests. Empty: no authentication.
	Digest string
	// SetACL gives every znode the store creates a secure ACL, as Kafka's
	// zookeeper.set.acl does: the digest identity gets all permissions and
	// everyone else may only read the nodes Kafka leaves world-readable;
	// credentials, ACLs and configs are readable by the identity alone.
	// Requires Digest. Off: nodes are world-writable (Kafka's default).
	SetACL bool
}

// ErrNoAuth: ZooKeeper refused an operation for lack of permission
// (NoAuth) — the broker's ZooKeeper identity is not the one the nodes are
// secured for.
var ErrNoAuth = errors.New("meta: zookeeper denied access")

// ZKNoAuthError reports ZooKeeper refusing this store access to a node.
// It matches both ErrNoAuth and zk.ErrNoAuth.
type ZKNoAuthError struct {
	Path string
	User string // the digest user the session authenticated as; "" for none
	// RequireAuth: the server requires every session to authenticate
	// (enforce.auth.enabled) and this one had not.
	RequireAuth bool
	Err         error // ZooKeeper's error
}

func (e *ZKNoAuthError) Error() string {
	if e.RequireAuth {
		return fmt.Sprintf("meta: zookeeper requires authentication (SessionClosedRequireAuth at %s): give the broker ZooKeeper digest credentials", e.Path)
	}
	who := "an unauthenticated session"
	if e.User != "" {
		who = fmt.Sprintf("digest user %q", e.User)
	}
	return fmt.Sprintf("meta: zookeeper denied %s access to %s (NoAuth): its nodes are secured for another identity; give every broker the same ZooKeeper digest credentials", who, e.Path)
}

func (e *ZKNoAuthError) Unwrap() []error { return []error{ErrNoAuth, e.Err} }

// zkErrSessionClosedRequireAuth is ZooKeeper's answer (code -124) to a
// request from an unauthenticated session when the server enforces
// authentication; the client library has no name for it.
const zkErrSessionClosedRequireAuth = "unknown error: -124"

// ParseZKDigest checks a "user:password" digest credential and returns the
// user. The user may not contain ':' (ZooKeeper splits at the first one)
// and neither part may be empty or contain line breaks.
func ParseZKDigest(s string) (user string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", errors.New(`zookeeper digest credentials must be "user:password"`)
	case user == "" || pass == "":
		return "", errors.New(`zookeeper digest credentials need a non-empty user and password ("user:password")`)
	case strings.ContainsAny(s, "\r\n"):
		return "", errors.New("zookeeper digest credentials must be one line")
	}
	return user, nil
}

// LoadZKDigestFile reads "user:password" from the first non-empty line of
// path (surrounding whitespace ignored) and validates it.
func LoadZKDigestFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if _, err := ParseZKDigest(line); err != nil {
				return "", err
			}
			return line, nil
		}
	}
	return "", errors.New(`empty file; want one line "user:password"`)
}

// zkACLSet is the precomputed ACLs the store gives new znodes.
type zkACLSet struct {
	open   []zk.ACL // everything not sensitive
	secret []zk.ACL // credentials, ACLs, configs
}

func newZKACLSet(sec ZKSecurity) (zkACLSet, error) {
	if !sec.SetACL {
		all := zk.WorldACL(zk.PermAll)
		return zkACLSet{open: all, secret: all}, nil
	}
	if sec.Digest == "" {
		return zkACLSet{}, errors.New("meta: secure zookeeper ACLs need digest credentials")
	}
	user, pass, _ := strings.Cut(sec.Digest, ":")
	// An explicit digest ACL rather than the "auth" scheme: the same id the
	// server would derive, but independent of what else the session holds.
	creator := zk.DigestACL(zk.PermAll, user, pass)
	return zkACLSet{
		open:   append(creator[:len(creator):len(creator)], zk.WorldACL(zk.PermRead)...),
		secret: creator,
	}, nil
}

// zkSensitivePath reports whether a layout path (relative to the chroot)
// holds data only brokers may read: SCRAM credentials and every other
// entity config under /config, and Kafka ACLs with their change
// notifications (/kafka-acl, /kafka-acl-extended, /kafka-acl-changes,
// /kafka-acl-extended-changes). Kafka itself keeps /config/users and
// /config/brokers secret; Sluice also hides topic configs and ACLs, which
// describe the cluster's security to anyone who can reach ZooKeeper.
func zkSensitivePath(p string) bool {
	return p == "/config" || strings.HasPrefix(p, "/config/") || strings.HasPrefix(p, "/kafka-acl")
}

// rel maps an absolute znode path to its layout path; the chroot and its
// ancestors map to "/".
func (z *ZK) rel(abs string) string {
	if z.chroot == "" {
		return abs
	}
	if strings.HasPrefix(abs, z.chroot+"/") {
		return abs[len(z.chroot):]
	}
	return "/"
}

// aclFor is the ACL a new znode at abs gets.
func (z *ZK) aclFor(abs string) []zk.ACL {
	if zkSensitivePath(z.rel(abs)) {
		return z.nodeACLs.secret
	}
	return z.nodeACLs.open
}

// createRequest is a create operation for Multi, with the path's ACL.
// Every znode the store creates goes through it or create.
func (z *ZK) createRequest(abs string, data []byte, flags int32) *zk.CreateRequest {
	return &zk.CreateRequest{Path: abs, Data: data, Acl: z.aclFor(abs), Flags: flags}
}

// zkParentDepth bounds how many missing ancestors create makes.
const zkParentDepth = 8

// create creates a znode with its path's ACL, first creating missing
// persistent parents (each with its own path's ACL). It returns the
// created path (which differs for sequential nodes).
func (z *ZK) create(abs string, data []byte, flags int32) (string, error) {
	for depth := 0; ; depth++ {
		p, err := z.conn.Create(abs, data, flags, z.aclFor(abs))
		if !errors.Is(err, zk.ErrNoNode) || depth >= zkParentDepth {
			return p, z.authError(abs, err)
		}
		i := strings.LastIndexByte(abs, '/')
		if i <= 0 {
			return p, err
		}
		if err := z.createIfAbsent(abs[:i], nil); err != nil {
			return "", err
		}
	}
}

// createIfAbsent creates a persistent znode unless it exists.
func (z *ZK) createIfAbsent(abs string, data []byte) error {
	_, err := z.create(abs, data, 0)
	if err == nil || errors.Is(err, zk.ErrNodeExists) {
		return nil
	}
	if errors.Is(err, zk.ErrNoAuth) {
		// ZooKeeper checks the parent's CREATE permission before it looks
		// for the node, so a node that exists under a parent this identity
		// may not write to (a chroot ancestor an operator made, say) reads
		// as NoAuth. Existence needs no permission to check.
		if ok, _, xerr := z.conn.Exists(abs); xerr == nil && ok {
			return nil
		}
	}
	var nae *ZKNoAuthError
	if errors.As(err, &nae) {
		return err // names the path already
	}
	return fmt.Errorf("meta: create %s: %w", abs, err)
}

// authError turns ZooKeeper's NoAuth into a *ZKNoAuthError naming the
// path and identity; other errors pass unchanged.
func (z *ZK) authError(abs string, err error) error {
	if err == nil {
		return nil
	}
	requireAuth := err.Error() == zkErrSessionClosedRequireAuth
	if !requireAuth && !errors.Is(err, zk.ErrNoAuth) {
		return err
	}
	user, _, _ := strings.Cut(z.opts.Security.Digest, ":")
	return &ZKNoAuthError{Path: abs, User: user, RequireAuth: requireAuth, Err: err}
}

// zkAuthTimeout bounds the initial digest authentication when the
// connect timeout is longer.
const zkAuthTimeout = 10 * time.Second

// authenticate adds the digest credentials to the session. It runs on the
// first session before any other request; the client keeps the credentials
// and re-sends them itself after reconnects and session expiry.
func (z *ZK) authenticate() error {
	if z.opts.Security.Digest == "" {
		return nil
	}
	wait := z.opts.ConnectTimeout
	if wait > zkAuthTimeout {
		wait = zkAuthTimeout
	}
	deadline := time.Now().Add(wait)
	for {
		done := make(chan error, 1)
		go func() { done <- z.conn.AddAuth("digest", []byte(z.opts.Security.Digest)) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Until(deadline)):
			// Close (by the caller) unblocks the AddAuth goroutine.
			return fmt.Errorf("%w: zookeeper digest authentication not answered within %v", ErrNoSession, wait)
		}
		if err == nil {
			return nil
		}
		// A connection lost mid-request leaves nothing registered; the
		// client reconnects, so try again while time remains.
		if errors.Is(err, zk.ErrConnectionClosed) && time.Now().Before(deadline) && z.sleep(zkRetryMin) {
			continue
		}
		return fmt.Errorf("meta: zookeeper digest authentication: %w", err)
	}
}

// checkAccess makes a broker whose identity the cluster's nodes are not
// secured for fail at start rather than on its first write: reading the
// creator-only /config needs that identity when the cluster sets ACLs.
func (z *ZK) checkAccess() error {
	for _, p := range []string{"/config", zkBrokerIDsPath} {
		if _, _, err := z.conn.Children(z.abs(p)); err != nil {
			if err := z.authError(z.abs(p), err); errors.Is(err, ErrNoAuth) {
				return err
			}
			return fmt.Errorf("meta: zookeeper access check of %s: %w", z.abs(p), err)
		}
	}
	return nil
}
