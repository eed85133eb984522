// Package acl is Sluice's ACL authorizer: Kafka's AclAuthorizer model
// (resource types, LITERAL/PREFIXED/"*" patterns, operations with their
// implications, Allow/Deny with deny winning, hosts, principal wildcard,
// super users, deny when no ACL matches) behind auth.Authorizer, so the
// Kafka port and the HTTP doors share one decision.
//
// Checks are lock-free: the bindings are compiled into an immutable index
// published through an atomic pointer; Set swaps in a new index. A check
// is a few map lookups, no allocation.
package acl

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// WildcardPrincipal matches every principal (Kafka's User:*).
const WildcardPrincipal = "User:*"

// WildcardHost matches every client host.
const WildcardHost = "*"

// numResourceTypes bounds kmsg's ACLResourceType values (0..7).
const numResourceTypes = 8

// entry is one binding's access control entry in the index.
type entry struct {
	principal string
	host      string
	op        auth.Operation
	allow     bool
}

// byName maps a resource name (or prefix) to its entries.
type byName map[string][]entry

// index is an immutable compiled view of the bindings.
type index struct {
	literal  [numResourceTypes]byName // includes the "*" wildcard name
	prefixed [numResourceTypes]byName
	// prefixLens are the distinct prefix lengths per type, ascending: a
	// name is checked against each length once, so a check costs one
	// lookup per distinct length, not per prefixed binding.
	prefixLens [numResourceTypes][]int
	bindings   []meta.ACLBinding
}

// Authorizer implements auth.Authorizer over ACL bindings.
type Authorizer struct {
	idx   atomic.Pointer[index]
	super map[auth.Principal]bool
}

// New returns an authorizer with no bindings (everything denied except to
// super users) and the given super users ("User:admin").
func New(superUsers []auth.Principal) *Authorizer {
	a := &Authorizer{super: map[auth.Principal]bool{}}
	for _, p := range superUsers {
		a.super[p] = true
	}
	a.Set(nil)
	return a
}

// Set replaces the bindings. Invalid bindings (unknown types) are ignored.
func (a *Authorizer) Set(bs []meta.ACLBinding) {
	idx := &index{bindings: append([]meta.ACLBinding(nil), bs...)}
	for _, b := range bs {
		rt := int(b.ResourceType)
		if rt < 0 || rt >= numResourceTypes {
			continue
		}
		e := entry{principal: b.Principal, host: b.Host, op: b.Operation, allow: b.Permission == kmsg.ACLPermissionTypeAllow}
		if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
			continue
		}
		switch b.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			if idx.literal[rt] == nil {
				idx.literal[rt] = byName{}
			}
			idx.literal[rt][b.ResourceName] = append(idx.literal[rt][b.ResourceName], e)
		case kmsg.ACLResourcePatternTypePrefixed:
			if idx.prefixed[rt] == nil {
				idx.prefixed[rt] = byName{}
			}
			if _, ok := idx.prefixed[rt][b.ResourceName]; !ok {
				idx.prefixLens[rt] = append(idx.prefixLens[rt], len(b.ResourceName))
			}
			idx.prefixed[rt][b.ResourceName] = append(idx.prefixed[rt][b.ResourceName], e)
		}
	}
	for rt := range idx.prefixLens {
		l := idx.prefixLens[rt]
		sort.Ints(l)
		// Distinct lengths only.
		out := l[:0]
		for i, n := range l {
			if i == 0 || n != l[i-1] {
				out = append(out, n)
			}
		}
		idx.prefixLens[rt] = out
	}
	a.idx.Store(idx)
}

// Bindings returns the bindings in force.
func (a *Authorizer) Bindings() []meta.ACLBinding {
	return append([]meta.ACLBinding(nil), a.idx.Load().bindings...)
}

// IsSuperUser reports whether p bypasses ACLs.
func (a *Authorizer) IsSuperUser(p auth.Principal) bool { return a.super[p] }

// Authorize implements auth.Authorizer: super users may do anything;
// otherwise a matching Deny refuses, a matching Allow grants, and no match
// refuses (Kafka's allow.everyone.if.no.acl.found=false).
func (a *Authorizer) Authorize(id auth.Identity, op auth.Operation, rt auth.ResourceType, name string) bool {
	if a.super[id.Principal] {
		return true
	}
	t := int(rt)
	if t < 0 || t >= numResourceTypes {
		return false
	}
	idx := a.idx.Load()
	allowed := false
	check := func(es []entry) bool { // false: denied
		for i := range es {
			e := &es[i]
			if !e.matchesWho(id) {
				continue
			}
			if e.allow {
				if !allowed && allowImplies(e.op, op) {
					allowed = true
				}
			} else if e.op == auth.OpAll || e.op == op {
				return false
			}
		}
		return true
	}
	if m := idx.literal[t]; m != nil {
		if !check(m[name]) {
			return false
		}
		if name != meta.WildcardResource && !check(m[meta.WildcardResource]) {
			return false
		}
	}
	if m := idx.prefixed[t]; m != nil {
		for _, n := range idx.prefixLens[t] {
			if n > len(name) {
				break
			}
			if !check(m[name[:n]]) {
				return false
			}
		}
	}
	return allowed
}

// AuthorizeAny reports whether id may do op on at least one resource of
// type rt, like Kafka's authorizeByResourceType (used for InitProducerId:
// Write on any topic implies IdempotentWrite). It is allowed when some
// Allow binding grants op to id, unless a Deny for op on the "*" wildcard
// or on the empty prefix (every resource) applies.
func (a *Authorizer) AuthorizeAny(id auth.Identity, op auth.Operation, rt auth.ResourceType) bool {
	if a.super[id.Principal] {
		return true
	}
	t := int(rt)
	if t < 0 || t >= numResourceTypes {
		return false
	}
	idx := a.idx.Load()
	for _, es := range [][]entry{idx.literal[t][meta.WildcardResource], idx.prefixed[t][""]} {
		for _, e := range es {
			if !e.allow && e.matchesWho(id) && (e.op == auth.OpAll || e.op == op) {
				return false
			}
		}
	}
	for _, m := range []byName{idx.literal[t], idx.prefixed[t]} {
		for _, es := range m {
			for _, e := range es {
				if e.allow && e.matchesWho(id) && allowImplies(e.op, op) {
					return true
				}
			}
		}
	}
	return false
}

func (e *entry) matchesWho(id auth.Identity) bool {
	return (e.principal == string(id.Principal) || e.principal == WildcardPrincipal) &&
		(e.host == WildcardHost || e.host == id.Host)
}

// allowImplies reports whether an Allow for granted permits op: All
// permits everything; Read, Write, Delete and Alter imply Describe;
// AlterConfigs implies DescribeConfigs (Kafka's AclAuthorizer). Deny
// bindings have no implications: denying Read does not deny Describe.
func allowImplies(granted, op auth.Operation) bool {
	if granted == op || granted == auth.OpAll {
		return true
	}
	switch op {
	case auth.OpDescribe:
		return granted == auth.OpRead || granted == auth.OpWrite || granted == auth.OpDelete || granted == auth.OpAlter
	case auth.OpDescribeConfigs:
		return granted == auth.OpAlterConfigs
	}
	return false
}

// Follow loads store's bindings into a and reloads them whenever they
// change, until ctx is done. It returns after the first load.
func (a *Authorizer) Follow(ctx context.Context, store meta.ACLStore) {
	ch := store.ACLChanges()
	a.Set(store.ACLs())
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			ch = store.ACLChanges()
			a.Set(store.ACLs())
		}
	}()
}

// ParsePrincipals splits "User:a,User:b" (super users flag).
func ParsePrincipals(s string) []auth.Principal {
	var out []auth.Principal
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, auth.Principal(p))
		}
	}
	return out
}

var _ auth.Authorizer = (*Authorizer)(nil)
