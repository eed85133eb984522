// Package auth holds the identity and authorization seam shared by every
// door into the broker: the Kafka port (TLS, SASL), the HTTP bridge and the
// admin API. Authentication, wherever it happens, yields an Identity; one
// Authorizer decides what that identity may do, for Kafka and HTTP alike.
//
// Operations and resource types are Kafka's ACL model (kmsg's enums), so an
// ACL created with Kafka's tools means the same thing on every door.
package auth

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Principal names an authenticated party the way Kafka does: "User:alice".
type Principal string

// Anonymous is the principal of a connection or HTTP request that did not
// authenticate (Kafka's User:ANONYMOUS).
const Anonymous Principal = "User:ANONYMOUS"

// User returns the principal of a named user.
func User(name string) Principal { return Principal("User:" + name) }

// Name is the principal without its type prefix ("alice" for User:alice).
func (p Principal) Name() string {
	if i := strings.IndexByte(string(p), ':'); i >= 0 {
		return string(p)[i+1:]
	}
	return string(p)
}

// Identity is who is asking and from where.
type Identity struct {
	Principal Principal
	// Host is the client's IP address (no port), matched against ACL hosts.
	Host string
}

// Operation is an ACL operation (Read, Write, Describe, ...).
type Operation = kmsg.ACLOperation

// ResourceType is an ACL resource type (Topic, Group, Cluster, ...).
type ResourceType = kmsg.ACLResourceType

// Operations and resource types used by the broker's checks.
const (
	OpAll             = kmsg.ACLOperationAll
	OpRead            = kmsg.ACLOperationRead
	OpWrite           = kmsg.ACLOperationWrite
	OpCreate          = kmsg.ACLOperationCreate
	OpDelete          = kmsg.ACLOperationDelete
	OpAlter           = kmsg.ACLOperationAlter
	OpDescribe        = kmsg.ACLOperationDescribe
	OpClusterAction   = kmsg.ACLOperationClusterAction
	OpDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	OpAlterConfigs    = kmsg.ACLOperationAlterConfigs
	OpIdempotentWrite = kmsg.ACLOperationIdempotentWrite

	ResTopic           = kmsg.ACLResourceTypeTopic
	ResGroup           = kmsg.ACLResourceTypeGroup
	ResCluster         = kmsg.ACLResourceTypeCluster
	ResTransactionalID = kmsg.ACLResourceTypeTransactionalId
)

// ClusterResource is the name of the single Cluster resource.
const ClusterResource = "kafka-cluster"

// Authorizer decides whether an identity may perform an operation on a
// named resource. Implementations must be safe for concurrent use and
// cheap: the broker asks once per partition on hot paths.
type Authorizer interface {
	Authorize(id Identity, op Operation, rt ResourceType, name string) bool
}

// AllowAll authorizes everything (`--authorizer none`).
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(Identity, Operation, ResourceType, string) bool { return true }

// PasswordVerifier checks a user's password against stored credentials
// (SCRAM credentials are salted; the password itself is never stored).
// SASL/PLAIN and HTTP Basic authentication use it.
type PasswordVerifier interface {
	VerifyPassword(user, password string) bool
}
