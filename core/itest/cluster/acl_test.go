package cluster_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta/zktest"
)

// Without SASL on this branch every connection is User:ANONYMOUS, so these
// tests tell brokers and clients apart by source address: brokers (and the
// harness's admin) connect from 127.0.0.1, the "outside" client from
// 127.0.0.2 (still loopback; every listener binds 127.0.0.1).

// outsider is a client whose connections come from 127.0.0.2.
func outsider(t *testing.T, seeds ...string) *kgo.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.Dialer(d.DialContext), kgo.DisableIdempotentWrite(),
		kgo.RetryTimeout(2*time.Second), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// seedBrokerACLs writes, in Kafka's ZooKeeper layout, the grant that
// lets the brokers (and the harness's admin client) work from 127.0.0.1:
// All on the cluster, every topic and every group, for User:ANONYMOUS
// from that host only. kafka-acls with --authorizer-properties
// zookeeper.connect would write the same znodes.
func seedBrokerACLs(t *testing.T) {
	t.Helper()
	chroot := "/" + strings.ReplaceAll(t.Name(), "/", "_")
	conn, _, err := zk.Connect([]string{zktest.Need(t, zkServer).Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grant := []byte(`{"version":1,"acls":[{"principal":"User:ANONYMOUS","permissionType":"Allow","operation":"All","host":"127.0.0.1"}]}`)
	for _, p := range []string{"/kafka-acl/Cluster/kafka-cluster", "/kafka-acl/Topic/*", "/kafka-acl/Group/*"} {
		full := chroot + p
		parts := strings.Split(strings.TrimPrefix(full, "/"), "/")
		for i := 1; i < len(parts); i++ {
			if _, err := conn.Create("/"+strings.Join(parts[:i], "/"), nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				t.Fatal(err)
			}
		}
		if _, err := conn.Create(full, grant, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
}

func brokerClient(t *testing.T, addr string, outside bool) *kgo.Client {
	t.Helper()
	if outside {
		return outsider(t, addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// ensureOffsetsTopic commits an offset so that __consumer_offsets exists.
func ensureOffsetsTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) {
	t.Helper()
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0})
	waitFor(ctx, t, "an offset commit", func() bool {
		resp, err := adm.CommitOffsets(ctx, "acl-test", os)
		return err == nil && resp.Error() == nil
	})
}

func rawFetch(t *testing.T, cl *kgo.Client, topic string, replica int32) (int16, int16) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = replica, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	fr := resp.(*kmsg.FetchResponse)
	return fr.ErrorCode, fr.Topics[0].Partitions[0].ErrorCode
}

// TestClusterACLs: with --authorizer acl on three brokers, replication
// works for the brokers' principal; an ACL created through one broker is
// enforced by every broker within about a second (ZooKeeper change
// notifications); a client's replica fetch and writes to internal topics
// are refused.
func TestClusterACLs(t *testing.T) {
	seedBrokerACLs(t)
	c := startCluster(t, 3, "--authorizer", "acl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "acl-orders"
	createTopic(ctx, t, adm, topic, 1, 3, nil)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("replicated")}).FirstErr(); err != nil {
		t.Fatalf("acks=all produce (replication under ACLs): %v", err)
	}
	waitFor(ctx, t, "ISR of 3", func() bool { return len(partitionInfo(ctx, t, adm, topic, 0).ISR) == 3 })

	// The outsider holds nothing: every broker refuses it.
	for _, nd := range c.nodes {
		cl := brokerClient(t, nd.addr, true)
		if _, code := rawFetch(t, cl, topic, -1); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("broker %d: outsider fetch: %v", nd.id, kerr.ErrorForCode(code))
		}
	}

	// Grant through broker 1 only; every broker enforces it.
	one := kadm.NewClient(brokerClient(t, c.nodes[0].addr, false))
	res, err := one.CreateACLs(ctx, kadm.NewACLs().Topics(topic).Allow("User:ANONYMOUS").AllowHosts("127.0.0.2").Operations(kadm.OpRead, kadm.OpAll))
	if err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	granted := time.Now()
	for _, nd := range c.nodes {
		cl := brokerClient(t, nd.addr, true)
		for {
			if _, code := rawFetch(t, cl, topic, -1); code != kerr.TopicAuthorizationFailed.Code {
				break
			}
			if time.Since(granted) > 5*time.Second {
				t.Fatalf("broker %d still refuses 5s after the grant", nd.id)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("broker %d enforces the new ACL %v after it was created", nd.id, time.Since(granted))
	}
	if d := time.Since(granted); d > 2*time.Second {
		t.Errorf("ACL took %v to reach every broker", d)
	}

	// Even with All on the topic (and on every topic), a client is no
	// broker: replica fetches and internal-topic writes are refused.
	if res, err := one.CreateACLs(ctx, kadm.NewACLs().Topics("*").Allow("User:ANONYMOUS").AllowHosts("127.0.0.2").Operations(kadm.OpAll)); err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	time.Sleep(time.Second)
	for _, nd := range c.nodes {
		cl := brokerClient(t, nd.addr, true)
		if top, part := rawFetch(t, cl, topic, 2); top != kerr.ClusterAuthorizationFailed.Code || part != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("broker %d: outsider replica fetch: %v/%v", nd.id, kerr.ErrorForCode(top), kerr.ErrorForCode(part))
		}
	}
	ensureOffsetsTopic(ctx, t, adm, topic)
	out := outsider(t, c.seeds()...)
	err = out.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("outsider produce to __consumer_offsets: %v", err)
	}
	if err := out.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("allowed")}).FirstErr(); err != nil {
		t.Errorf("outsider produce with All on %s: %v", topic, err)
	}
}

// TestClusterReplicaFetchWithoutAuthorizer: with --authorizer none a
// replica fetch is accepted only from a registered broker's host; a
// client elsewhere gets CLUSTER_AUTHORIZATION_FAILED, and cannot write
// internal topics.
func TestClusterReplicaFetchWithoutAuthorizer(t *testing.T) {
	c := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	createTopic(ctx, t, adm, "plain", 1, 2, nil)
	for _, nd := range c.nodes {
		cl := brokerClient(t, nd.addr, true)
		if top, part := rawFetch(t, cl, "plain", 2); top != kerr.ClusterAuthorizationFailed.Code || part != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("broker %d: outsider replica fetch: %v/%v", nd.id, kerr.ErrorForCode(top), kerr.ErrorForCode(part))
		}
		if _, part := rawFetch(t, cl, "plain", -1); part == kerr.ClusterAuthorizationFailed.Code || part == kerr.TopicAuthorizationFailed.Code {
			t.Errorf("broker %d: outsider consumer fetch refused: %v", nd.id, kerr.ErrorForCode(part))
		}
	}
	ensureOffsetsTopic(ctx, t, adm, "plain")
	err := outsider(t, c.seeds()...).ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("outsider produce to __consumer_offsets: %v", err)
	}
}
