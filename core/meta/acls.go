package meta

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACLBinding is one access control entry bound to a resource pattern, as
// Kafka's AclBinding: who (principal, host) may or may not (permission) do
// what (operation) on which resources (type, name, pattern type).
type ACLBinding struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// WildcardResource is the literal resource name matching every resource of
// its type (Kafka's "*").
const WildcardResource = "*"

// ErrInvalidACL is returned for bindings that cannot be stored.
var ErrInvalidACL = errors.New("meta: invalid ACL binding")

// Validate reports why b cannot be created, as Kafka's CreateAcls does.
func (b ACLBinding) Validate() error {
	switch b.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return fmt.Errorf("%w: resource type %v", ErrInvalidACL, b.ResourceType)
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("%w: pattern type %v (only LITERAL and PREFIXED can be created)", ErrInvalidACL, b.PatternType)
	}
	if b.ResourceName == "" {
		return fmt.Errorf("%w: empty resource name", ErrInvalidACL)
	}
	if b.ResourceType == kmsg.ACLResourceTypeCluster && (b.ResourceName != "kafka-cluster" || b.PatternType != kmsg.ACLResourcePatternTypeLiteral) {
		return fmt.Errorf("%w: the cluster resource is the literal kafka-cluster", ErrInvalidACL)
	}
	if i := strings.IndexByte(b.Principal, ':'); i <= 0 || i == len(b.Principal)-1 {
		return fmt.Errorf("%w: principal %q is not Type:name", ErrInvalidACL, b.Principal)
	}
	if b.Host == "" {
		return fmt.Errorf("%w: empty host (use *)", ErrInvalidACL)
	}
	if b.Operation < kmsg.ACLOperationAll || b.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: operation %v", ErrInvalidACL, b.Operation)
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("%w: permission %v", ErrInvalidACL, b.Permission)
	}
	return nil
}

// ACLFilter selects bindings, with Kafka's AclBindingFilter semantics: a
// nil string or an ANY enum matches everything; pattern type MATCH selects
// the bindings that apply to ResourceName (that literal name, the "*"
// wildcard, and prefixes of it).
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Matches reports whether the filter selects b.
func (f ACLFilter) Matches(b ACLBinding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil {
			n := *f.ResourceName
			switch b.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				if b.ResourceName != n && b.ResourceName != WildcardResource {
					return false
				}
			case kmsg.ACLResourcePatternTypePrefixed:
				if !strings.HasPrefix(n, b.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	default:
		if f.PatternType != b.PatternType {
			return false
		}
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != b.Permission {
		return false
	}
	return true
}

// ACLStore keeps the cluster's ACL bindings. Stores that implement it
// (Local, ZK) are what the authorizer follows and what the
// CreateAcls/DeleteAcls/DescribeAcls APIs change. Safe for concurrent use.
type ACLStore interface {
	// ACLs lists every binding (a copy).
	ACLs() []ACLBinding
	// CreateACLs adds bindings; already present ones are not duplicated.
	CreateACLs(bs []ACLBinding) error
	// DeleteACLs removes, for each filter, the bindings it matches and
	// returns them, one slice per filter.
	DeleteACLs(filters []ACLFilter) ([][]ACLBinding, error)
	// ACLChanges is closed and replaced whenever the bindings change (on
	// this broker or, for clustered stores, on any).
	ACLChanges() <-chan struct{}
}

// dedupACLs appends bs to have, skipping bindings already present.
func dedupACLs(have, bs []ACLBinding) []ACLBinding {
	seen := make(map[ACLBinding]bool, len(have)+len(bs))
	for _, b := range have {
		seen[b] = true
	}
	out := append([]ACLBinding(nil), have...)
	for _, b := range bs {
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// deleteACLs splits have into what the filters keep and what each removes.
func deleteACLs(have []ACLBinding, filters []ACLFilter) (keep []ACLBinding, removed [][]ACLBinding) {
	removed = make([][]ACLBinding, len(filters))
	for _, b := range have {
		hit := false
		for i, f := range filters {
			if f.Matches(b) {
				removed[i] = append(removed[i], b)
				hit = true
			}
		}
		if !hit {
			keep = append(keep, b)
		}
	}
	return keep, removed
}
