package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
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
// watches the notification parents and re-reads the resource each new
// notification names, so a change applies cluster-wide within a watch
// round trip.
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
	reloadMu  sync.Mutex // serialises reloads; guards byRes
	// byRes is the cache by resource pattern (one znode each); list is
	// its flattened, published form.
	byRes   map[zkACLResource][]ACLBinding
	mu      sync.RWMutex
	list    []ACLBinding
	changed chan struct{}
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

// zkACLFullReloadAfter: more new notifications than this at once, and a
// full re-read is cheaper than one read per notification.
const zkACLFullReloadAfter = 64

// refreshACLs arms a watch on a notification parent and applies the
// notifications that appeared since the last call: each names one
// resource, whose znode alone is re-read (as Kafka's brokers do). The
// first call, a gap in the sequence (notifications purged before we saw
// them) or a burst re-read everything.
func (z *ZK) refreshACLs(changesPath string) refreshFunc {
	loaded, last := false, int64(-1) // last: newest notification applied
	return func(pending <-chan zk.Event) (<-chan zk.Event, error) {
		wch := pending
		var children []string
		var err error
		if pending == nil {
			children, _, wch, err = z.conn.ChildrenW(z.abs(changesPath))
		} else {
			children, _, err = z.conn.Children(z.abs(changesPath))
		}
		if err != nil {
			return wch, fmt.Errorf("meta: watch %s: %w", changesPath, err)
		}
		var fresh []int64
		names := map[int64]string{}
		for _, c := range children {
			seq, err := strconv.ParseInt(strings.TrimPrefix(c, zkACLChangePrefix), 10, 64)
			if err != nil || seq <= last {
				continue
			}
			fresh = append(fresh, seq)
			names[seq] = c
		}
		if len(fresh) == 0 && loaded {
			return wch, nil
		}
		sort.Slice(fresh, func(i, j int) bool { return fresh[i] < fresh[j] })
		full := !loaded || len(fresh) > zkACLFullReloadAfter || fresh[0] != last+1
		if !full {
			for _, seq := range fresh {
				data, _, err := z.conn.Get(z.abs(changesPath + "/" + names[seq]))
				r, ok := parseACLChange(changesPath, data)
				if err != nil || !ok {
					full = true // purged or unreadable: re-read everything
					break
				}
				if err := z.reloadACLResources(r); err != nil {
					return wch, err
				}
			}
		}
		if full {
			if err := z.reloadACLs(); err != nil {
				return wch, err
			}
		}
		if len(fresh) > 0 {
			last = fresh[len(fresh)-1]
		}
		loaded = true
		return wch, nil
	}
}

// parseACLChange reads a change notification: "Type:name" under
// /kafka-acl-changes, JSON under /kafka-acl-extended-changes.
func parseACLChange(changesPath string, data []byte) (zkACLResource, bool) {
	if changesPath == zkACLExtendedChangesPath {
		var n struct {
			ResourceType string `json:"resourceType"`
			Name         string `json:"name"`
			PatternType  string `json:"patternType"`
		}
		if json.Unmarshal(data, &n) != nil || !strings.EqualFold(n.PatternType, "PREFIXED") {
			return zkACLResource{}, false
		}
		rt, ok := zkResourceTypes[n.ResourceType]
		return zkACLResource{rt: rt, pattern: kmsg.ACLResourcePatternTypePrefixed, name: n.Name}, ok && n.Name != ""
	}
	typ, name, ok := strings.Cut(string(data), ":")
	rt, known := zkResourceTypes[typ]
	return zkACLResource{rt: rt, pattern: kmsg.ACLResourcePatternTypeLiteral, name: name}, ok && known && name != ""
}

// reloadACLResources re-reads the given resources' znodes and publishes.
func (z *ZK) reloadACLResources(rs ...zkACLResource) error {
	a := &z.acls
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.byRes == nil {
		a.byRes = map[zkACLResource][]ACLBinding{}
	}
	for _, r := range rs {
		bs, _, err := z.readACLNode(r)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			delete(a.byRes, r)
		} else {
			a.byRes[r] = bs
		}
	}
	z.publishACLsLocked()
	return nil
}

// publishACLsLocked flattens byRes (in resource order) and announces a
// change if there is one. reloadMu must be held.
func (z *ZK) publishACLsLocked() {
	a := &z.acls
	rs := make([]zkACLResource, 0, len(a.byRes))
	for r := range a.byRes {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].pattern != rs[j].pattern {
			return rs[i].pattern < rs[j].pattern
		}
		if rs[i].rt != rs[j].rt {
			return rs[i].rt < rs[j].rt
		}
		return rs[i].name < rs[j].name
	})
	var all []ACLBinding
	for _, r := range rs {
		all = append(all, a.byRes[r]...)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if sameACLs(a.list, all) {
		return
	}
	a.list = all
	close(a.changed)
	a.changed = make(chan struct{})
}

// reloadACLs reads every ACL znode and publishes the bindings if changed.
func (z *ZK) reloadACLs() error {
	a := &z.acls
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	byRes := map[zkACLResource][]ACLBinding{}
	for _, base := range []struct {
		path    string
		pattern kmsg.ACLResourcePatternType
	}{{zkACLLiteralPath, kmsg.ACLResourcePatternTypeLiteral}, {zkACLPrefixedPath, kmsg.ACLResourcePatternTypePrefixed}} {
		types, _, err := z.conn.Children(z.abs(base.path))
		if err != nil {
			return fmt.Errorf("meta: list %s: %w", base.path, err)
		}
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
			for _, name := range names {
				r := zkACLResource{rt: rt, pattern: base.pattern, name: name}
				bs, _, err := z.readACLNode(r)
				if err != nil {
					return err
				}
				if len(bs) > 0 {
					byRes[r] = bs
				}
			}
		}
	}
	a.byRes = byRes
	z.publishACLsLocked()
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
			_, err = z.create(path, encodeACLNode(want), 0)
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
	if _, err := z.create(z.abs(parent+"/"+zkACLChangePrefix), data, zk.FlagSequence); err != nil {
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
	return z.reloadACLResources(order...)
}

// DeleteACLs implements ACLStore.
func (z *ZK) DeleteACLs(filters []ACLFilter) ([][]ACLBinding, error) {
	if err := z.StartACLs(); err != nil {
		return nil, err
	}
	// The cache (current within a watch round trip) says which resources
	// hold matching bindings; each is then changed with compare-and-set.
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
	return removed, z.reloadACLResources(touched...)
}

var _ ACLStore = (*ZK)(nil)
