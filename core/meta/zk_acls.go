package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACLs in ZooKeeper follow Kafka's layout (see docs/zookeeper-layout.md):
// one znode per resource pattern holding every entry bound to it,
//
//	/kafka-acl/<ResourceType>/<name>                       LITERAL
//	/kafka-acl-extended/prefixed/<ResourceType>/<name>      PREFIXED
//
// with {"version":1,"acls":[{"principal","permissionType","operation","host"}]},
// and a sequential change notification under /kafka-acl-changes (literal) or
// /kafka-acl-extended-changes (prefixed) after each write. Every broker
// watches the notification parents and reloads all bindings when a child
// appears, so a change applies cluster-wide within a watch round trip.
const (
	zkACLLiteralPath         = "/kafka-acl"
	zkACLPrefixedPath        = "/kafka-acl-extended/prefixed"
	zkACLChangesPath         = "/kafka-acl-changes"
	zkACLExtendedChangesPath = "/kafka-acl-extended-changes"
	zkACLChangePrefix        = "acl_changes_"
	// zkACLChangeTTL: notifications older than this are purged by writers
	// (Kafka keeps them 15 minutes).
	zkACLChangeTTL = 15 * time.Minute
)

var zkACLBasePaths = []string{zkACLLiteralPath, "/kafka-acl-extended", zkACLPrefixedPath, zkACLChangesPath, zkACLExtendedChangesPath}

var zkResourceTypeNames = map[kmsg.ACLResourceType]string{
	kmsg.ACLResourceTypeTopic:           "Topic",
	kmsg.ACLResourceTypeGroup:           "Group",
	kmsg.ACLResourceTypeCluster:         "Cluster",
	kmsg.ACLResourceTypeTransactionalId: "TransactionalId",
	kmsg.ACLResourceTypeDelegationToken: "DelegationToken",
	kmsg.ACLResourceTypeUser:            "User",
}

var zkOperationNames = map[kmsg.ACLOperation]string{
	kmsg.ACLOperationAll:             "All",
	kmsg.ACLOperationRead:            "Read",
	kmsg.ACLOperationWrite:           "Write",
	kmsg.ACLOperationCreate:          "Create",
	kmsg.ACLOperationDelete:          "Delete",
	kmsg.ACLOperationAlter:           "Alter",
	kmsg.ACLOperationDescribe:        "Describe",
	kmsg.ACLOperationClusterAction:   "ClusterAction",
	kmsg.ACLOperationDescribeConfigs: "DescribeConfigs",
	kmsg.ACLOperationAlterConfigs:    "AlterConfigs",
	kmsg.ACLOperationIdempotentWrite: "IdempotentWrite",
	kmsg.ACLOperationCreateTokens:    "CreateTokens",
	kmsg.ACLOperationDescribeTokens:  "DescribeTokens",
}

func reverse[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	zkResourceTypes = reverse(zkResourceTypeNames)
	zkOperations    = reverse(zkOperationNames)
)

// zkACLNode is one resource pattern's znode.
type zkACLNode struct {
	Version int          `json:"version"`
	ACLs    []zkACLEntry `json:"acls"`
}

type zkACLEntry struct {
	Principal      string `json:"principal"`
	PermissionType string `json:"permissionType"`
	Operation      string `json:"operation"`
	Host           string `json:"host"`
}

// zkACLResource is a resource pattern (what one znode holds).
type zkACLResource struct {
	rt      kmsg.ACLResourceType
	pattern kmsg.ACLResourcePatternType
	name    string
}

func (r zkACLResource) path() string {
	base := zkACLLiteralPath
	if r.pattern == kmsg.ACLResourcePatternTypePrefixed {
		base = zkACLPrefixedPath
	}
	return base + "/" + zkResourceTypeNames[r.rt] + "/" + r.name
}

func resourceOf(b ACLBinding) zkACLResource {
	return zkACLResource{rt: b.ResourceType, pattern: b.PatternType, name: b.ResourceName}
}

// zkACLs is the ZK store's ACL cache, started on first use.
type zkACLs struct {
	startOnce sync.Once
	startErr  error
	reloadMu  sync.Mutex // serialises reloads
	mu        sync.RWMutex
	list      []ACLBinding
	changed   chan struct{}
}

// StartACLs creates the ACL paths, loads the bindings and starts watching
// the change notifications. ACL methods call it; callers may call it at
// start to fail early.
func (z *ZK) StartACLs() error {
	a := &z.acls
	a.startOnce.Do(func() {
		a.changed = make(chan struct{})
		for _, p := range zkACLBasePaths {
			if err := z.createIfAbsent(z.abs(p), nil); err != nil {
				a.startErr = err
				return
			}
		}
		for _, cp := range []string{zkACLChangesPath, zkACLExtendedChangesPath} {
			refresh := z.refreshACLs(cp)
			wch, err := refresh(nil)
			if err != nil {
				a.startErr = err
				return
			}
			z.spawnWatch("acls "+cp, wch, nil, nil, refresh)
		}
	})
	return a.startErr
}

// refreshACLs arms a watch on a notification parent and reloads.
func (z *ZK) refreshACLs(changesPath string) refreshFunc {
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		wch := pending
		var err error
		if pending == nil {
			_, _, wch, err = z.conn.ChildrenW(z.abs(changesPath))
			if err != nil {
				return nil, fmt.Errorf("meta: watch %s: %w", changesPath, err)
			}
		}
		return wch, z.reloadACLs()
	}
}

// reloadACLs reads every ACL znode and publishes the bindings if changed.
func (z *ZK) reloadACLs() error {
	a := &z.acls
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	var all []ACLBinding
	for _, base := range []struct {
		path    string
		pattern kmsg.ACLResourcePatternType
	}{{zkACLLiteralPath, kmsg.ACLResourcePatternTypeLiteral}, {zkACLPrefixedPath, kmsg.ACLResourcePatternTypePrefixed}} {
		types, _, err := z.conn.Children(z.abs(base.path))
		if err != nil {
			return fmt.Errorf("meta: list %s: %w", base.path, err)
		}
		sort.Strings(types)
		for _, tn := range types {
			rt, ok := zkResourceTypes[tn]
			if !ok {
				continue // "prefixed" under /kafka-acl-extended, future types
			}
			names, _, err := z.conn.Children(z.abs(base.path + "/" + tn))
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return fmt.Errorf("meta: list %s/%s: %w", base.path, tn, err)
			}
			sort.Strings(names)
			for _, name := range names {
				r := zkACLResource{rt: rt, pattern: base.pattern, name: name}
				bs, _, err := z.readACLNode(r)
				if err != nil {
					return err
				}
				all = append(all, bs...)
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if sameACLs(a.list, all) {
		return nil
	}
	a.list = all
	close(a.changed)
	a.changed = make(chan struct{})
	return nil
}

func sameACLs(x, y []ACLBinding) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// readACLNode returns r's bindings and the znode version (-1: absent).
func (z *ZK) readACLNode(r zkACLResource) ([]ACLBinding, int32, error) {
	data, stat, err := z.conn.Get(z.abs(r.path()))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, -1, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("meta: read %s: %w", r.path(), err)
	}
	var n zkACLNode
	if len(data) > 0 {
		if err := json.Unmarshal(data, &n); err != nil {
			z.log.Warn("ignoring unparsable ACL znode", "path", r.path(), "err", err)
			return nil, stat.Version, nil
		}
	}
	var out []ACLBinding
	for _, e := range n.ACLs {
		op, ok := zkOperations[e.Operation]
		perm := kmsg.ACLPermissionTypeUnknown
		switch e.PermissionType {
		case "Allow":
			perm = kmsg.ACLPermissionTypeAllow
		case "Deny":
			perm = kmsg.ACLPermissionTypeDeny
		}
		if !ok || perm == kmsg.ACLPermissionTypeUnknown {
			z.log.Warn("ignoring unknown ACL entry", "path", r.path(), "operation", e.Operation, "permission", e.PermissionType)
			continue
		}
		out = append(out, ACLBinding{ResourceType: r.rt, ResourceName: r.name, PatternType: r.pattern,
			Principal: e.Principal, Host: e.Host, Operation: op, Permission: perm})
	}
	return out, stat.Version, nil
}

func encodeACLNode(bs []ACLBinding) []byte {
	n := zkACLNode{Version: 1, ACLs: []zkACLEntry{}}
	for _, b := range bs {
		perm := "Allow"
		if b.Permission == kmsg.ACLPermissionTypeDeny {
			perm = "Deny"
		}
		n.ACLs = append(n.ACLs, zkACLEntry{Principal: b.Principal, PermissionType: perm, Operation: zkOperationNames[b.Operation], Host: b.Host})
	}
	return mustJSON(n)
}

// updateACLNode applies fn to r's bindings with compare-and-set, retrying
// on concurrent writers; an empty result deletes the znode.
func (z *ZK) updateACLNode(r zkACLResource, fn func([]ACLBinding) []ACLBinding) error {
	path := z.abs(r.path())
	for attempt := 0; ; attempt++ {
		have, version, err := z.readACLNode(r)
		if err != nil {
			return err
		}
		want := fn(have)
		if sameACLs(have, want) {
			return nil
		}
		switch {
		case version < 0 && len(want) == 0:
			return nil
		case version < 0:
			parent := path[:strings.LastIndexByte(path, '/')]
			if err := z.createIfAbsent(parent, nil); err != nil {
				return err
			}
			_, err = z.conn.Create(path, encodeACLNode(want), 0, zk.WorldACL(zk.PermAll))
		case len(want) == 0:
			err = z.conn.Delete(path, version)
		default:
			_, err = z.conn.Set(path, encodeACLNode(want), version)
		}
		if err == nil {
			return nil
		}
		if (errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode)) && attempt < 20 {
			continue
		}
		return fmt.Errorf("meta: write %s: %w", r.path(), err)
	}
}

// notifyACLChange creates a change notification for r and purges old ones.
func (z *ZK) notifyACLChange(r zkACLResource) error {
	parent := zkACLChangesPath
	data := []byte(zkResourceTypeNames[r.rt] + ":" + r.name)
	if r.pattern == kmsg.ACLResourcePatternTypePrefixed {
		parent = zkACLExtendedChangesPath
		data = mustJSON(map[string]any{"version": 1, "resourceType": zkResourceTypeNames[r.rt], "name": r.name, "patternType": "PREFIXED"})
	}
	if _, err := z.conn.Create(z.abs(parent+"/"+zkACLChangePrefix), data, zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		return fmt.Errorf("meta: ACL change notification: %w", err)
	}
	children, _, err := z.conn.Children(z.abs(parent))
	if err != nil {
		return nil // purging is best effort
	}
	cutoff := time.Now().Add(-zkACLChangeTTL).UnixMilli()
	for _, c := range children {
		p := z.abs(parent + "/" + c)
		if _, stat, err := z.conn.Get(p); err == nil && stat.Ctime < cutoff {
			z.conn.Delete(p, -1)
		}
	}
	return nil
}

// ACLs implements ACLStore.
func (z *ZK) ACLs() []ACLBinding {
	if z.StartACLs() != nil {
		return nil
	}
	z.acls.mu.RLock()
	defer z.acls.mu.RUnlock()
	return append([]ACLBinding(nil), z.acls.list...)
}

// ACLChanges implements ACLStore.
func (z *ZK) ACLChanges() <-chan struct{} {
	if z.StartACLs() != nil {
		return make(chan struct{}) // never fires; ACLs reports nothing
	}
	z.acls.mu.RLock()
	defer z.acls.mu.RUnlock()
	return z.acls.changed
}

// CreateACLs implements ACLStore.
func (z *ZK) CreateACLs(bs []ACLBinding) error {
	if err := z.StartACLs(); err != nil {
		return err
	}
	byRes := map[zkACLResource][]ACLBinding{}
	var order []zkACLResource
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return err
		}
		if strings.ContainsRune(b.ResourceName, '/') || b.ResourceName == "." || b.ResourceName == ".." {
			return fmt.Errorf("%w: resource name %q cannot be stored in ZooKeeper", ErrInvalidACL, b.ResourceName)
		}
		r := resourceOf(b)
		if _, ok := byRes[r]; !ok {
			order = append(order, r)
		}
		byRes[r] = append(byRes[r], b)
	}
	for _, r := range order {
		add := byRes[r]
		if err := z.updateACLNode(r, func(have []ACLBinding) []ACLBinding { return dedupACLs(have, add) }); err != nil {
			return err
		}
		if err := z.notifyACLChange(r); err != nil {
			return err
		}
	}
	// Read our own write before answering.
	return z.reloadACLs()
}

// DeleteACLs implements ACLStore.
func (z *ZK) DeleteACLs(filters []ACLFilter) ([][]ACLBinding, error) {
	if err := z.StartACLs(); err != nil {
		return nil, err
	}
	if err := z.reloadACLs(); err != nil {
		return nil, err
	}
	seen := map[zkACLResource]bool{}
	var touched []zkACLResource
	for _, b := range z.ACLs() {
		r := resourceOf(b)
		if seen[r] {
			continue
		}
		for _, f := range filters {
			if f.Matches(b) {
				seen[r] = true
				touched = append(touched, r)
				break
			}
		}
	}
	removed := make([][]ACLBinding, len(filters))
	for _, r := range touched {
		var gone [][]ACLBinding
		err := z.updateACLNode(r, func(have []ACLBinding) []ACLBinding {
			keep, rm := deleteACLs(have, filters)
			gone = rm
			return keep
		})
		if err != nil {
			return nil, err
		}
		for i := range gone {
			removed[i] = append(removed[i], gone[i]...)
		}
		if err := z.notifyACLChange(r); err != nil {
			return nil, err
		}
	}
	return removed, z.reloadACLs()
}

var _ ACLStore = (*ZK)(nil)
