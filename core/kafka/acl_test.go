package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/acl"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// aclEnv is an in-process broker with the ACL authorizer. SASL is not on
// this branch, so tests name each client's principal through the
// server's test-only testPrincipal hook: the client's dialer records its
// local address, the server maps the connection's remote address back.
type aclEnv struct {
	addr    string
	b       *broker.Broker
	srv     *Server
	authz   *acl.Authorizer
	mu      sync.Mutex
	names   map[string]auth.Principal // client local addr -> principal
	admin   *kadm.Client
	adminCl *kgo.Client
}

const superUser auth.Principal = "User:admin"

func startACLBroker(t *testing.T) *aclEnv {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		DataDir:                    t.TempDir(),
		Logger:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions:     2,
		GroupInitialRebalanceDelay: -1,
		GroupMinSessionTimeout:     500 * time.Millisecond,
		AutoCreateTopics:           true,
		AutoCreateTopicsSet:        true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenAdvertised(t, b)
	store := b.Store().(meta.ACLStore)
	a := acl.New([]auth.Principal{superUser})
	ctx, cancel := context.WithCancel(context.Background())
	a.Follow(ctx, store)
	e := &aclEnv{addr: ln.Addr().String(), b: b, authz: a, names: map[string]auth.Principal{}}
	e.srv = New(b, Config{Logger: b.Config().Logger, Authorizer: a, ACLs: store})
	e.srv.testPrincipal = func(nc net.Conn) auth.Principal {
		e.mu.Lock()
		defer e.mu.Unlock()
		if p, ok := e.names[nc.RemoteAddr().String()]; ok {
			return p
		}
		return auth.Anonymous
	}
	go e.srv.Serve(ln)
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		b.Close()
	})
	e.adminCl = e.client(t, superUser)
	e.admin = kadm.NewClient(e.adminCl)
	return e
}

// client connects as principal p.
func (e *aclEnv) client(t *testing.T, p auth.Principal, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, host)
		if err == nil {
			e.mu.Lock()
			e.names[nc.LocalAddr().String()] = p
			e.mu.Unlock()
		}
		return nc, err
	}
	return mustClient(t, append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.Dialer(dial),
		kgo.RetryTimeout(2 * time.Second), kgo.RequestRetries(1)}, opts...)...)
}

// setACLs replaces every binding by bs (as the super user, through kadm).
func (e *aclEnv) setACLs(t *testing.T, bs ...meta.ACLBinding) {
	t.Helper()
	ctx := context.Background()
	del, err := e.admin.DeleteACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range del {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	if len(bs) > 0 {
		// Raw request: every field of each binding exactly as given.
		req := kmsg.NewPtrCreateACLsRequest()
		for _, b := range bs {
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			req.Creations = append(req.Creations, c)
		}
		resp, err := req.RequestWith(ctx, e.adminCl)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Results {
			if r.ErrorCode != 0 {
				t.Fatalf("create ACL: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		}
	}
	// The authorizer follows the store asynchronously.
	want := map[meta.ACLBinding]bool{}
	for _, b := range bs {
		want[b] = true
	}
	same := func() bool {
		got := e.authz.Bindings()
		if len(got) != len(want) {
			return false
		}
		for _, b := range got {
			if !want[b] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Second)
	for !same() {
		if time.Now().After(deadline) {
			t.Fatalf("authorizer has %v, want %v", e.authz.Bindings(), bs)
		}
		time.Sleep(time.Millisecond)
	}
}

func allowACL(p auth.Principal, rt auth.ResourceType, name string, pt kmsg.ACLResourcePatternType, op auth.Operation, host string) meta.ACLBinding {
	return meta.ACLBinding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: string(p), Host: host, Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
}

func denyACL(p auth.Principal, rt auth.ResourceType, name string, op auth.Operation) meta.ACLBinding {
	return meta.ACLBinding{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: string(p), Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeDeny}
}

const (
	alice auth.Principal = "User:alice"
	lit                  = kmsg.ACLResourcePatternTypeLiteral
	pre                  = kmsg.ACLResourcePatternTypePrefixed
)

// send issues req on the client's seed connection (no client-side
// routing, so the broker's own answer is seen).
func send[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.SeedBrokers()[0].Request(context.Background(), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// apiCase is one API's authorization: which grant (op on rt/name) it
// needs on top of base, what it answers allowed and denied.
type apiCase struct {
	name    string
	rt      auth.ResourceType
	op      auth.Operation
	res     string // resource the grant names
	base    []meta.ACLBinding
	call    func(t *testing.T, e *aclEnv, cl *kgo.Client) int16
	allowed int16
	denied  int16
	// anyResource: the grant may be on any resource of its type (Kafka's
	// authorizeByResourceType), so a Deny on one does not refuse.
	anyResource bool
}

func aclAPICases() []apiCase {
	readOrders := allowACL(alice, auth.ResTopic, "orders", lit, auth.OpRead, "*")
	readGroup := allowACL(alice, auth.ResGroup, "app-group", lit, auth.OpRead, "*")
	return []apiCase{
		{name: "Produce", rt: auth.ResTopic, op: auth.OpWrite, res: "orders",
			// Describe alone: the client's metadata works and the
			// Produce handler itself decides.
			base: []meta.ACLBinding{allowACL(alice, auth.ResTopic, "orders", lit, auth.OpDescribe, "*")},
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr()
				return codeOf(t, err)
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "Fetch", rt: auth.ResTopic, op: auth.OpRead, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrFetchRequest()
				req.Version, req.ReplicaID, req.MaxBytes = 12, -1, 1<<20
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := send[*kmsg.FetchResponse](t, cl, req)
				return resp.Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "ListOffsets", rt: auth.ResTopic, op: auth.OpDescribe, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrListOffsetsRequest()
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return send[*kmsg.ListOffsetsResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "Metadata", rt: auth.ResTopic, op: auth.OpDescribe, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrMetadataRequest()
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("orders")
				req.Topics = append(req.Topics, rt)
				return send[*kmsg.MetadataResponse](t, cl, req).Topics[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "Metadata/auto-create", rt: auth.ResTopic, op: auth.OpCreate, res: "fresh-topic",
			base: []meta.ACLBinding{allowACL(alice, auth.ResTopic, "fresh-topic", lit, auth.OpDescribe, "*")},
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrMetadataRequest()
				req.AllowAutoTopicCreation = true
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("fresh-topic")
				req.Topics = append(req.Topics, rt)
				code := send[*kmsg.MetadataResponse](t, cl, req).Topics[0].ErrorCode
				e.b.DeleteTopic("fresh-topic") // next case starts without it
				return code
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "OffsetCommit/group", rt: auth.ResGroup, op: auth.OpRead, res: "app-group", base: []meta.ACLBinding{readOrders},
			call: offsetCommit, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "OffsetCommit/topic", rt: auth.ResTopic, op: auth.OpRead, res: "orders", base: []meta.ACLBinding{readGroup},
			call: offsetCommit, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "OffsetFetch/group", rt: auth.ResGroup, op: auth.OpDescribe, res: "app-group", base: []meta.ACLBinding{readOrders},
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				g := offsetFetch(t, cl).Groups[0]
				if g.ErrorCode != 0 {
					return g.ErrorCode
				}
				return g.Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "OffsetFetch/topic", rt: auth.ResTopic, op: auth.OpDescribe, res: "orders", base: []meta.ACLBinding{readGroup},
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return offsetFetch(t, cl).Groups[0].Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "FindCoordinator", rt: auth.ResGroup, op: auth.OpDescribe, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKeys = []string{"app-group"}
				return send[*kmsg.FindCoordinatorResponse](t, cl, req).Coordinators[0].ErrorCode
			}, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "JoinGroup", rt: auth.ResGroup, op: auth.OpRead, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "app-group", 6000, 6000, "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{0, 0}
				req.Protocols = append(req.Protocols, p)
				return send[*kmsg.JoinGroupResponse](t, cl, req).ErrorCode
			}, allowed: kerr.MemberIDRequired.Code, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "Heartbeat", rt: auth.ResGroup, op: auth.OpRead, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = "app-group", "nobody", 1
				return send[*kmsg.HeartbeatResponse](t, cl, req).ErrorCode
			}, allowed: kerr.UnknownMemberID.Code, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "SyncGroup", rt: auth.ResGroup, op: auth.OpRead, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.Generation = "app-group", "nobody", 1
				return send[*kmsg.SyncGroupResponse](t, cl, req).ErrorCode
			}, allowed: kerr.UnknownMemberID.Code, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "LeaveGroup", rt: auth.ResGroup, op: auth.OpRead, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group = "app-group"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "nobody"
				req.Members = append(req.Members, m)
				resp := send[*kmsg.LeaveGroupResponse](t, cl, req)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Members[0].ErrorCode
			}, allowed: kerr.UnknownMemberID.Code, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "DescribeGroups", rt: auth.ResGroup, op: auth.OpDescribe, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"app-group"}
				return send[*kmsg.DescribeGroupsResponse](t, cl, req).Groups[0].ErrorCode
			}, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "CreateTopics", rt: auth.ResTopic, op: auth.OpCreate, res: "newtopic",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrCreateTopicsRequest()
				req.ValidateOnly = true
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "newtopic", 1, 1
				req.Topics = append(req.Topics, rt)
				return send[*kmsg.CreateTopicsResponse](t, cl, req).Topics[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "DeleteTopics", rt: auth.ResTopic, op: auth.OpDelete, res: "doomed",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				if _, ok := e.b.Topic("doomed"); !ok {
					if _, err := e.b.CreateTopic(broker.TopicSpec{Name: "doomed", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
						t.Fatal(err)
					}
				}
				req := kmsg.NewPtrDeleteTopicsRequest()
				dt := kmsg.NewDeleteTopicsRequestTopic()
				dt.Topic = kmsg.StringPtr("doomed")
				req.Topics = append(req.Topics, dt)
				return send[*kmsg.DeleteTopicsResponse](t, cl, req).Topics[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "DeleteRecords", rt: auth.ResTopic, op: auth.OpDelete, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return send[*kmsg.DeleteRecordsResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "InitProducerId", rt: auth.ResCluster, op: auth.OpIdempotentWrite, res: auth.ClusterResource,
			call: initProducerID, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "InitProducerId/write-any-topic", rt: auth.ResTopic, op: auth.OpWrite, res: "orders",
			call: initProducerID, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code, anyResource: true},
		{name: "OffsetForLeaderEpoch", rt: auth.ResTopic, op: auth.OpDescribe, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return offsetForLeaderEpoch(t, cl, -1)
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "DescribeConfigs/topic", rt: auth.ResTopic, op: auth.OpDescribeConfigs, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return describeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "orders")
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "DescribeConfigs/broker", rt: auth.ResCluster, op: auth.OpDescribeConfigs, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return describeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "0")
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "IncrementalAlterConfigs/broker", rt: auth.ResCluster, op: auth.OpAlterConfigs, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				req.ValidateOnly = true
				r := kmsg.NewIncrementalAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "leader.replication.throttled.rate", kmsg.StringPtr("1000")
				r.Configs = append(r.Configs, c)
				req.Resources = append(req.Resources, r)
				return send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req).Resources[0].ErrorCode
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "ControlledShutdown", rt: auth.ResCluster, op: auth.OpClusterAction, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrControlledShutdownRequest()
				req.BrokerID = 0
				return send[*kmsg.ControlledShutdownResponse](t, cl, req).ErrorCode
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "AlterConfigs", rt: auth.ResTopic, op: auth.OpAlterConfigs, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrAlterConfigsRequest()
				req.ValidateOnly = true
				r := kmsg.NewAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
				req.Resources = append(req.Resources, r)
				return send[*kmsg.AlterConfigsResponse](t, cl, req).Resources[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "IncrementalAlterConfigs", rt: auth.ResTopic, op: auth.OpAlterConfigs, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return incrementalAlter(t, cl, "orders")
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "CreatePartitions", rt: auth.ResTopic, op: auth.OpAlter, res: "orders",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				return createPartitions(t, cl, "orders", 3)
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "DeleteGroups", rt: auth.ResGroup, op: auth.OpDelete, res: "app-group",
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				e.ensureGroup(t, "app-group")
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"app-group"}
				return send[*kmsg.DeleteGroupsResponse](t, cl, req).Groups[0].ErrorCode
			}, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "OffsetDelete/group", rt: auth.ResGroup, op: auth.OpDelete, res: "app-group", base: []meta.ACLBinding{readOrders},
			call: offsetDelete, allowed: 0, denied: kerr.GroupAuthorizationFailed.Code},
		{name: "OffsetDelete/topic", rt: auth.ResTopic, op: auth.OpRead, res: "orders",
			base: []meta.ACLBinding{allowACL(alice, auth.ResGroup, "app-group", lit, auth.OpDelete, "*")},
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				e.ensureGroup(t, "app-group")
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "app-group"
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = "orders"
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				resp := send[*kmsg.OffsetDeleteResponse](t, cl, req)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			}, allowed: 0, denied: kerr.TopicAuthorizationFailed.Code},
		{name: "CreateAcls", rt: auth.ResCluster, op: auth.OpAlter, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrCreateACLsRequest()
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "zed-topic", kmsg.ACLResourcePatternTypeLiteral
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:zed", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				req.Creations = append(req.Creations, c)
				return send[*kmsg.CreateACLsResponse](t, cl, req).Results[0].ErrorCode
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "DescribeAcls", rt: auth.ResCluster, op: auth.OpDescribe, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return send[*kmsg.DescribeACLsResponse](t, cl, req).ErrorCode
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
		{name: "DeleteAcls", rt: auth.ResCluster, op: auth.OpAlter, res: auth.ClusterResource,
			call: func(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
				req := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("nothing-here"), kmsg.ACLResourcePatternTypeLiteral
				f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				req.Filters = append(req.Filters, f)
				return send[*kmsg.DeleteACLsResponse](t, cl, req).Results[0].ErrorCode
			}, allowed: 0, denied: kerr.ClusterAuthorizationFailed.Code},
	}
}

// ensureGroup commits an offset for group (as the super user), so that
// it exists with no members.
func (e *aclEnv) ensureGroup(t *testing.T, group string) {
	t.Helper()
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0})
	resp, err := e.admin.CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func codeOf(t *testing.T, err error) int16 {
	t.Helper()
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	t.Fatalf("not a Kafka error: %v", err)
	return 0
}

func offsetCommit(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = "app-group", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.OffsetCommitResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
}

func offsetFetch(t *testing.T, cl *kgo.Client) *kmsg.OffsetFetchResponse {
	// kgo sends the highest version both sides support (v8: groups).
	req := kmsg.NewPtrOffsetFetchRequest()
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "app-group"
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = "orders", []int32{0}
	g.Topics = append(g.Topics, rt)
	req.Groups = append(req.Groups, g)
	return send[*kmsg.OffsetFetchResponse](t, cl, req)
}

func offsetDelete(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
	e.ensureGroup(t, "app-group")
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "app-group"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewOffsetDeleteRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.OffsetDeleteResponse](t, cl, req).ErrorCode
}

func initProducerID(t *testing.T, e *aclEnv, cl *kgo.Client) int16 {
	req := kmsg.NewPtrInitProducerIDRequest()
	return send[*kmsg.InitProducerIDResponse](t, cl, req).ErrorCode
}

func offsetForLeaderEpoch(t *testing.T, cl *kgo.Client, replica int32) int16 {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version, req.ReplicaID = 4, replica
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.OffsetForLeaderEpochResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
}

func describeConfigs(t *testing.T, cl *kgo.Client, rt kmsg.ConfigResourceType, name string) int16 {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = rt, name
	req.Resources = append(req.Resources, r)
	return send[*kmsg.DescribeConfigsResponse](t, cl, req).Resources[0].ErrorCode
}

func incrementalAlter(t *testing.T, cl *kgo.Client, topic string) int16 {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = true
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("60000")
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	return send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req).Resources[0].ErrorCode
}

func createPartitions(t *testing.T, cl *kgo.Client, topic string, n int32) int16 {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.ValidateOnly = true
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, n
	req.Topics = append(req.Topics, rt)
	return send[*kmsg.CreatePartitionsResponse](t, cl, req).Topics[0].ErrorCode
}

// TestACLMatrix: for each API, its required grant given literally, by
// prefix, by wildcard (resource "*" and principal User:*) and from the
// client's host allows it; no grant, a Deny over an Allow, or a grant for
// another host refuses it with Kafka's error code. One connection per
// principal lives through every ACL change: changes apply to live
// connections.
func TestACLMatrix(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	e := startACLBroker(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    int32
	}{{"orders", 2}, {"secret", 1}} {
		if _, err := e.admin.CreateTopic(ctx, tc.n, 1, nil, tc.name); err != nil {
			t.Fatal(err)
		}
	}
	cl := e.client(t, alice, kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(3*time.Second))
	for _, api := range aclAPICases() {
		// The cluster resource has one name; "*" is not valid for it.
		wild := "*"
		if api.rt == auth.ResCluster {
			wild = auth.ClusterResource
		}
		denyOverAllow := api.denied
		if api.anyResource {
			// Allowed on every other topic: still "some topic".
			denyOverAllow = api.allowed
		}
		variants := []struct {
			name  string
			grant []meta.ACLBinding
			want  int16
		}{
			{"no-acl", nil, api.denied},
			{"literal", []meta.ACLBinding{allowACL(alice, api.rt, api.res, lit, api.op, "*")}, api.allowed},
			{"wildcard", []meta.ACLBinding{allowACL("User:*", api.rt, wild, lit, api.op, "*")}, api.allowed},
			{"all-op", []meta.ACLBinding{allowACL(alice, api.rt, api.res, lit, auth.OpAll, "*")}, api.allowed},
			{"deny-over-allow", []meta.ACLBinding{allowACL(alice, api.rt, wild, lit, auth.OpAll, "*"), denyACL(alice, api.rt, api.res, api.op)}, denyOverAllow},
			{"host-match", []meta.ACLBinding{allowACL(alice, api.rt, api.res, lit, api.op, "127.0.0.1")}, api.allowed},
			{"host-other", []meta.ACLBinding{allowACL(alice, api.rt, api.res, lit, api.op, "10.9.9.9")}, api.denied},
			{"other-principal", []meta.ACLBinding{allowACL("User:bob", api.rt, api.res, lit, api.op, "*")}, api.denied},
		}
		if api.rt != auth.ResCluster {
			variants = append(variants, struct {
				name  string
				grant []meta.ACLBinding
				want  int16
			}{"prefixed", []meta.ACLBinding{allowACL(alice, api.rt, api.res[:3], pre, api.op, "*")}, api.allowed})
		}
		for _, v := range variants {
			t.Run(api.name+"/"+v.name, func(t *testing.T) {
				e.setACLs(t, append(slices.Clone(api.base), v.grant...)...)
				if got := api.call(t, e, cl); got != v.want {
					t.Fatalf("got %v, want %v", kerr.ErrorForCode(got), kerr.ErrorForCode(v.want))
				}
			})
		}
	}
}

// TestACLMetadataHidesTopics: listing all topics shows only those the
// principal may Describe; a named topic it may not describe answers
// TOPIC_AUTHORIZATION_FAILED whether it exists or not.
func TestACLMetadataHidesTopics(t *testing.T) {
	e := startACLBroker(t)
	ctx := context.Background()
	for _, n := range []string{"orders", "orders-eu", "secret", "logs"} {
		if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, n); err != nil {
			t.Fatal(err)
		}
	}
	e.setACLs(t,
		allowACL(alice, auth.ResTopic, "orders", pre, auth.OpRead, "*"),
		allowACL(alice, auth.ResTopic, "logs", lit, auth.OpWrite, "*"),
		denyACL(alice, auth.ResTopic, "orders-eu", auth.OpDescribe),
	)
	cl := e.client(t, alice)
	md := send[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	var names []string
	for _, tp := range md.Topics {
		names = append(names, *tp.Topic)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"logs", "orders"}) {
		t.Fatalf("alice sees %v, want [logs orders]", names)
	}
	for _, name := range []string{"secret", "orders-eu", "no-such-topic", "__consumer_offsets"} {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
		got := send[*kmsg.MetadataResponse](t, cl, req).Topics[0]
		if got.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(got.Partitions) != 0 {
			t.Fatalf("%s: %v with %d partitions, want TOPIC_AUTHORIZATION_FAILED and none", name, kerr.ErrorForCode(got.ErrorCode), len(got.Partitions))
		}
	}
	// KIP-430 authorized operations: Read and Write imply Describe.
	opsReq := kmsg.NewPtrMetadataRequest()
	opsReq.IncludeTopicAuthorizedOperations = true
	got := map[string]int32{}
	for _, tp := range send[*kmsg.MetadataResponse](t, cl, opsReq).Topics {
		got[*tp.Topic] = tp.AuthorizedOperations
	}
	bit := func(ops ...auth.Operation) int32 {
		var b int32
		for _, op := range ops {
			b |= 1 << uint(op)
		}
		return b
	}
	if got["orders"] != bit(auth.OpRead, auth.OpDescribe) || got["logs"] != bit(auth.OpWrite, auth.OpDescribe) {
		t.Fatalf("authorized operations %v", got)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if ops := send[*kmsg.DescribeClusterResponse](t, cl, dc).ClusterAuthorizedOperations; ops != 0 {
		t.Fatalf("alice cluster operations %b", ops)
	}
	all := bit(auth.OpCreate, auth.OpAlter, auth.OpDescribe, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs, auth.OpIdempotentWrite)
	if ops := send[*kmsg.DescribeClusterResponse](t, e.adminCl, dc).ClusterAuthorizedOperations; ops != all {
		t.Fatalf("super user cluster operations %b, want %b", ops, all)
	}
	// kadm (the high-level client) sees the same.
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := topics.Names(); !slices.Equal(got, []string{"logs", "orders"}) {
		t.Fatalf("kadm ListTopics: %v", got)
	}
	// The super user sees everything, internal topics included.
	everything, err := e.admin.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(everything.Names()) != 5 {
		t.Fatalf("admin sees %v", everything.Names())
	}
}

// TestACLListGroupsFilters: Describe on the cluster lists every group;
// otherwise only the groups the principal may Describe.
func TestACLListGroupsFilters(t *testing.T) {
	e := startACLBroker(t)
	ctx := context.Background()
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"app-1", "app-2", "other"} {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0})
		if _, err := e.admin.CommitOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	cl := e.client(t, alice)
	list := func() []string {
		resp := send[*kmsg.ListGroupsResponse](t, cl, kmsg.NewPtrListGroupsRequest())
		var out []string
		for _, g := range resp.Groups {
			out = append(out, g.Group)
		}
		sort.Strings(out)
		return out
	}
	e.setACLs(t)
	if got := list(); len(got) != 0 {
		t.Fatalf("no ACLs: %v", got)
	}
	e.setACLs(t, allowACL(alice, auth.ResGroup, "app-", pre, auth.OpDescribe, "*"))
	if got := list(); !slices.Equal(got, []string{"app-1", "app-2"}) {
		t.Fatalf("prefixed Describe: %v", got)
	}
	e.setACLs(t, allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, auth.OpDescribe, "*"))
	if got := list(); !slices.Equal(got, []string{"app-1", "app-2", "other"}) {
		t.Fatalf("cluster Describe: %v", got)
	}
}

// TestACLSuperUserAndAdminAPIs: kadm's CreateACLs / DescribeACLs /
// DeleteACLs round trip for the super user; a principal holding nothing
// gets CLUSTER_AUTHORIZATION_FAILED, and one granted Alter on the cluster
// may manage ACLs.
func TestACLSuperUserAndAdminAPIs(t *testing.T) {
	e := startACLBroker(t)
	ctx := context.Background()
	b := kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:bob").AllowHosts("127.0.0.1").Operations(kadm.OpRead, kadm.OpWrite)
	created, err := e.admin.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 {
		t.Fatalf("created %d", len(created))
	}
	for _, c := range created {
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	}
	desc, err := e.admin.DescribeACLs(ctx, kadm.NewACLs().Topics("orders-x").ResourcePatternType(kadm.ACLPatternMatch).Allow().AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	if len(desc) != 1 || desc[0].Err != nil || len(desc[0].Described) != 2 {
		t.Fatalf("describe matching orders-x: %+v", desc)
	}
	for _, d := range desc[0].Described {
		if d.Name != "orders" || d.Pattern != kadm.ACLPatternPrefixed || d.Principal != "User:bob" || d.Host != "127.0.0.1" {
			t.Fatalf("described %+v", d)
		}
	}

	cl := kadm.NewClient(e.client(t, alice))
	res, err := cl.CreateACLs(ctx, kadm.NewACLs().Topics("t").Allow("User:alice").Operations(kadm.OpAll))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice creating ACLs: %v", res[0].Err)
	}
	d, err := cl.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Allow().AllowHosts().Operations(kadm.OpAny))
	if err != nil || len(d) != 1 || !errors.Is(d[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describing ACLs: %v %+v", err, d)
	}
	// Granted Alter (which implies Describe) on the cluster, alice may.
	if _, err := e.admin.CreateACLs(ctx, kadm.NewACLs().Clusters().Allow("User:alice").Operations(kadm.OpAlter)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	res, err = cl.CreateACLs(ctx, kadm.NewACLs().Groups("g").Allow("User:alice").Operations(kadm.OpRead))
	if err != nil || res[0].Err != nil {
		t.Fatalf("alice with cluster Alter: %v %v", err, res[0].Err)
	}
	del, err := cl.DeleteACLs(ctx, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:bob").AllowHosts("127.0.0.1").Operations(kadm.OpWrite))
	if err != nil || len(del) != 1 || del[0].Err != nil || len(del[0].Deleted) != 1 || del[0].Deleted[0].Operation != kadm.OpWrite {
		t.Fatalf("delete: %v %+v", err, del)
	}
	left, err := e.admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny))
	if err != nil || len(left[0].Described) != 3 {
		t.Fatalf("left: %v %+v", err, left)
	}
}

// internalTopicChecks tries every write a client could make to an
// internal topic and returns the codes, keyed by API.
func internalTopicChecks(t *testing.T, cl *kgo.Client, topic string) map[string]int16 {
	out := map[string]int16{}
	err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("deploy me")}).FirstErr()
	out["Produce"] = codeOf(t, err)
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Topics = append(del.Topics, dt)
	out["DeleteTopics"] = send[*kmsg.DeleteTopicsResponse](t, cl, del).Topics[0].ErrorCode
	out["IncrementalAlterConfigs"] = incrementalAlter(t, cl, topic)
	alt := kmsg.NewPtrAlterConfigsRequest()
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	alt.Resources = append(alt.Resources, r)
	out["AlterConfigs"] = send[*kmsg.AlterConfigsResponse](t, cl, alt).Resources[0].ErrorCode
	out["CreatePartitions"] = createPartitions(t, cl, topic, 100)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Offset = -1
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	out["DeleteRecords"] = send[*kmsg.DeleteRecordsResponse](t, cl, dr).Topics[0].Partitions[0].ErrorCode
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = topic, 1, 1
	ct.Topics = append(ct.Topics, ctt)
	out["CreateTopics"] = send[*kmsg.CreateTopicsResponse](t, cl, ct).Topics[0].ErrorCode
	return out
}

// replicaFetch sends a follower's fetch (replica id 1) and returns the
// top-level and partition codes.
func replicaFetch(t *testing.T, cl *kgo.Client, topic string) (int16, int16) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.FetchResponse](t, cl, req)
	return resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode
}

// TestACLInternalTopicsRefused: no client writes internal topics, not
// even one holding All on every topic and the cluster, nor a super user;
// replica fetches from clients are refused (a single node has no
// followers), and so is OffsetForLeaderEpoch as a replica.
func TestACLInternalTopicsRefused(t *testing.T) {
	e := startACLBroker(t)
	ctx := context.Background()
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	e.ensureGroup(t, "g") // creates __consumer_offsets
	// The broker itself creates __sluice_plugins (in-process).
	bcl := mustClient(t, kgo.SeedBrokers(e.addr), kgo.Dialer(e.srv.InProcessDialer(nil, e.addr)))
	if resp, err := kadm.NewClient(bcl).CreateTopic(ctx, 1, 1, nil, "__sluice_plugins"); err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	e.setACLs(t,
		allowACL(alice, auth.ResTopic, "*", lit, auth.OpAll, "*"),
		allowACL(alice, auth.ResCluster, auth.ClusterResource, lit, auth.OpAll, "*"),
	)
	for _, p := range []auth.Principal{alice, superUser} {
		cl := e.client(t, p, kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(3*time.Second))
		for _, topic := range []string{"__consumer_offsets", "__sluice_plugins"} {
			for api, code := range internalTopicChecks(t, cl, topic) {
				if api == "CreateTopics" && topic == "__consumer_offsets" && code == kerr.TopicAlreadyExists.Code {
					t.Fatalf("%s: CreateTopics %s: TOPIC_ALREADY_EXISTS leaks past the internal-topic check", p, topic)
				}
				if code != kerr.InvalidTopicException.Code {
					t.Errorf("%s: %s on %s: %v, want INVALID_TOPIC_EXCEPTION", p, api, topic, kerr.ErrorForCode(code))
				}
			}
		}
		if top, part := replicaFetch(t, cl, "orders"); top != kerr.ClusterAuthorizationFailed.Code || part != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("%s: replica fetch: %v / %v, want CLUSTER_AUTHORIZATION_FAILED", p, kerr.ErrorForCode(top), kerr.ErrorForCode(part))
		}
		if code := offsetForLeaderEpoch(t, cl, 1); code != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("%s: OffsetForLeaderEpoch as replica: %v", p, kerr.ErrorForCode(code))
		}
	}
	if end, err := e.admin.ListEndOffsets(ctx, "__sluice_plugins"); err != nil || end["__sluice_plugins"][0].Offset != 0 {
		t.Fatalf("__sluice_plugins end offset %v, %v: a client wrote it", end, err)
	}
	// Reading an internal topic is an ordinary ACL question.
	if code := offsetForLeaderEpoch(t, e.client(t, alice), -1); code != 0 {
		t.Fatalf("consumer OffsetForLeaderEpoch: %v", kerr.ErrorForCode(code))
	}
}

// TestInternalTopicsRefusedWithoutAuthorizer: with --authorizer none
// (AllowAll) the internal-topic and replica-fetch rules still hold; the
// ACL APIs answer SECURITY_DISABLED.
func TestInternalTopicsRefusedWithoutAuthorizer(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	addr, _ := startBroker(t, t.TempDir())
	ctx := context.Background()
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(3*time.Second), kgo.RetryTimeout(2*time.Second))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0})
	if _, err := adm.CommitOffsets(ctx, "g", os); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"__consumer_offsets", "__sluice_plugins", "__transaction_state"} {
		for api, code := range internalTopicChecks(t, cl, topic) {
			if api == "Produce" && topic != "__consumer_offsets" && code == kerr.UnknownTopicOrPartition.Code {
				continue // absent: the client's metadata stops it first
			}
			if code != kerr.InvalidTopicException.Code {
				t.Errorf("%s on %s: %v, want INVALID_TOPIC_EXCEPTION", api, topic, kerr.ErrorForCode(code))
			}
		}
	}
	if top, part := replicaFetch(t, cl, "orders"); top != kerr.ClusterAuthorizationFailed.Code || part != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("replica fetch: %v / %v", kerr.ErrorForCode(top), kerr.ErrorForCode(part))
	}
	for _, topic := range []string{"__sluice_plugins", "__transaction_state"} {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Topics[topic].Partitions) != 0 {
			t.Fatalf("a client created %s", topic)
		}
	}
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("t").Allow("User:x").AllowHosts().Operations(kadm.OpRead))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("CreateACLs without authorizer: %v", res[0].Err)
	}
}

// TestInProcessDialerWritesInternalTopics: the broker's own in-process
// connection (how plugin deployments reach __sluice_plugins) may write
// internal topics and bypasses ACLs, though nobody holds any.
func TestInProcessDialerWritesInternalTopics(t *testing.T) {
	e := startACLBroker(t)
	ctx := context.Background()
	cl := mustClient(t, kgo.SeedBrokers(e.addr), kgo.Dialer(e.srv.InProcessDialer(nil, e.addr)), kgo.RequiredAcks(kgo.AllISRAcks()))
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "__sluice_plugins")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "__sluice_plugins", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Ordinary clients still cannot.
	alice := e.client(t, alice, kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(3*time.Second))
	e.setACLs(t, allowACL("User:alice", auth.ResTopic, "*", lit, auth.OpAll, "*"))
	err = alice.ProduceSync(ctx, &kgo.Record{Topic: "__sluice_plugins", Key: []byte("k"), Value: []byte("evil")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("alice producing to __sluice_plugins: %v", err)
	}
}

// TestACLChangesApplyToLiveConnections: one connection, never reopened,
// sees a grant, then a deny, then the grant's removal take effect on its
// next request; the super user is unaffected throughout.
func TestACLChangesApplyToLiveConnections(t *testing.T) {
	e := startACLBroker(t)
	if _, err := e.admin.CreateTopic(context.Background(), 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := e.client(t, alice)
	dials := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := 0
		for _, p := range e.names {
			if p == alice {
				n++
			}
		}
		return n
	}
	fetch := func() int16 { _, code := rawFetchCode(t, cl); return code }
	if code := fetch(); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("before grant: %v", kerr.ErrorForCode(code))
	}
	before := dials()
	steps := []struct {
		acls []meta.ACLBinding
		want int16
	}{
		{[]meta.ACLBinding{allowACL(alice, auth.ResTopic, "ord", pre, auth.OpRead, "*")}, 0},
		{[]meta.ACLBinding{allowACL(alice, auth.ResTopic, "ord", pre, auth.OpRead, "*"), denyACL("User:*", auth.ResTopic, "orders", auth.OpRead)}, kerr.TopicAuthorizationFailed.Code},
		{[]meta.ACLBinding{allowACL(alice, auth.ResTopic, "ord", pre, auth.OpRead, "*")}, 0},
		{nil, kerr.TopicAuthorizationFailed.Code},
	}
	for i, s := range steps {
		e.setACLs(t, s.acls...)
		if code := fetch(); code != s.want {
			t.Fatalf("step %d: %v, want %v", i, kerr.ErrorForCode(code), kerr.ErrorForCode(s.want))
		}
		if _, code := rawFetchCode(t, e.adminCl); code != 0 {
			t.Fatalf("step %d: super user: %v", i, kerr.ErrorForCode(code))
		}
	}
	if after := dials(); after != before {
		t.Fatalf("alice's client dialed %d new connections", after-before)
	}
}

func rawFetchCode(t *testing.T, cl *kgo.Client) (int16, int16) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.FetchResponse](t, cl, req)
	return resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode
}

// TestACLOffsetFetchV1: before v2 OffsetFetch has no top-level error
// code, so GROUP_AUTHORIZATION_FAILED goes in every partition.
func TestACLOffsetFetchV1(t *testing.T) {
	e := startACLBroker(t)
	if _, err := e.admin.CreateTopic(context.Background(), 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	e.setACLs(t, allowACL(alice, auth.ResTopic, "orders", lit, auth.OpRead, "*"))
	cl := e.client(t, alice, kgo.MaxVersions(kversion.V0_10_0()))
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "app-group"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "orders", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.OffsetFetchResponse](t, cl, req)
	if resp.Version != 1 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupAuthorizationFailed.Code || resp.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("v%d: %+v", resp.Version, resp.Topics)
	}
}
