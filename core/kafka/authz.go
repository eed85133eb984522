package kafka

import (
	"context"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/auth"
)

// Authorization helpers shared by the handlers. Each handler checks what
// Kafka's KafkaApis checks, with Kafka's error codes; a topic the
// principal may not even Describe answers TOPIC_AUTHORIZATION_FAILED
// whether or not it exists, so existence never leaks.

// internalTopics only brokers write. Clients may read them (with ACLs)
// but never produce to, delete, alter, grow or truncate them.
var internalTopics = map[string]bool{
	"__consumer_offsets":  true,
	"__sluice_plugins":    true,
	"__transaction_state": true,
}

// IsInternalTopic reports whether only brokers may write name.
func IsInternalTopic(name string) bool { return internalTopics[name] }

// internalTopicError answers a client's write to an internal topic, as
// Kafka answers produce to one (INVALID_TOPIC_EXCEPTION).
var internalTopicError = kerr.InvalidTopicException

// internalTopicMessage explains internalTopicError.
const internalTopicMessage = "internal topic: only brokers write it"

// aclsEnabled reports whether an authorizer other than AllowAll is set.
func (c *conn) aclsEnabled() bool {
	_, none := c.s.cfg.Authorizer.(auth.AllowAll)
	return !none
}

func (c *conn) mayTopic(op auth.Operation, topic string) bool {
	return c.authorized(op, auth.ResTopic, topic)
}

func (c *conn) mayGroup(op auth.Operation, group string) bool {
	return c.authorized(op, auth.ResGroup, group)
}

func (c *conn) mayCluster(op auth.Operation) bool {
	return c.authorized(op, auth.ResCluster, auth.ClusterResource)
}

// anyAuthorizer is implemented by authorizers that can answer "may id do
// op on some resource of this type" (acl.Authorizer).
type anyAuthorizer interface {
	AuthorizeAny(id auth.Identity, op auth.Operation, rt auth.ResourceType) bool
}

// mayAny is Kafka's authorizeByResourceType.
func (c *conn) mayAny(op auth.Operation, rt auth.ResourceType) bool {
	if c.trusted {
		return true
	}
	if a, ok := c.s.cfg.Authorizer.(anyAuthorizer); ok {
		return a.AuthorizeAny(c.identity(), op, rt)
	}
	return c.s.cfg.Authorizer.Authorize(c.identity(), op, rt, "*")
}

// isBroker reports whether this connection comes from a broker: the
// broker itself in-process, or a peer broker. A single node has no peers,
// so only its own in-process connections qualify, whatever a client's
// ACLs. In a cluster, with ACLs a peer is a principal holding
// ClusterAction on the cluster (Kafka's broker permission; brokers
// authenticate as such a principal); without ACLs it is any connection
// from the host of another registered broker, which is all that can be
// checked without authentication (see docs/security.md).
func (c *conn) isBroker() bool {
	if c.trusted {
		return true
	}
	if c.aclsEnabled() {
		return c.hasPeers() && c.mayCluster(auth.OpClusterAction)
	}
	return c.fromPeerBrokerHost()
}

// hasPeers: other brokers are registered.
func (c *conn) hasPeers() bool {
	for _, b := range c.s.b.Store().Brokers() {
		if b.ID != c.s.b.ID() {
			return true
		}
	}
	return false
}

// fromPeerBrokerHost: the client's IP is that of another registered
// broker (advertised hosts that are names are resolved).
func (c *conn) fromPeerBrokerHost() bool {
	self := c.s.b.ID()
	for _, b := range c.s.b.Store().Brokers() {
		if b.ID == self {
			continue
		}
		if b.Host == c.host {
			return true
		}
		if net.ParseIP(b.Host) == nil {
			ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
			ips, err := net.DefaultResolver.LookupHost(ctx, b.Host)
			cancel()
			if err == nil && slices.Contains(ips, c.host) {
				return true
			}
		}
	}
	return false
}

// mayWriteInternal reports whether this connection may write topic when
// it is internal (anyone may write other topics, subject to ACLs).
func (c *conn) mayWriteInternal(topic string) bool {
	return !IsInternalTopic(topic) || c.isBroker()
}

// Operations reported in "authorized operations" bitfields (KIP-430), per
// resource type, as Kafka reports them.
var (
	topicOps   = []auth.Operation{auth.OpRead, auth.OpWrite, auth.OpCreate, auth.OpDelete, auth.OpAlter, auth.OpDescribe, auth.OpDescribeConfigs, auth.OpAlterConfigs}
	groupOps   = []auth.Operation{auth.OpRead, auth.OpDescribe, auth.OpDelete}
	clusterOps = []auth.Operation{auth.OpCreate, auth.OpAlter, auth.OpDescribe, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs, auth.OpIdempotentWrite}
)

// authorizedOps is the KIP-430 bitfield (bit n set: operation n allowed)
// of what this connection may do on a resource.
func (c *conn) authorizedOps(rt auth.ResourceType, name string) int32 {
	ops := topicOps
	switch rt {
	case auth.ResGroup:
		ops = groupOps
	case auth.ResCluster:
		ops = clusterOps
	}
	var bits int32
	for _, op := range ops {
		if c.authorized(op, rt, name) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

// aclAPIRefusal is why an ACL API (29–31) is refused as a whole: no ACL
// authorizer (SECURITY_DISABLED, as Kafka) or no op on the cluster. code
// 0: go ahead.
func (c *conn) aclAPIRefusal(op auth.Operation) (code int16, msg string) {
	switch {
	case c.s.cfg.ACLs == nil:
		return kerr.SecurityDisabled.Code, "no ACL authorizer is configured (start the broker with --authorizer acl)"
	case !c.mayCluster(op):
		return kerr.ClusterAuthorizationFailed.Code, ""
	}
	return 0, ""
}
