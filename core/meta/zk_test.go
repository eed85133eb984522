package meta

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestZKRegistrationAndBrokers(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	rack := "rack-b"
	b, err := OpenZK(connect, Broker{ID: 2, Host: "127.0.0.1", Port: 9002, Rack: &rack}, ZKOptions{SessionTimeout: 6 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	if a.ClusterID() == "" || a.ClusterID() != b.ClusterID() {
		t.Fatalf("cluster ids %q and %q: want one shared non-empty id", a.ClusterID(), b.ClusterID())
	}
	waitUntil(t, a, "both brokers", func() bool { return len(a.Brokers()) == 2 })
	got := a.Brokers()
	if got[0].ID != 1 || got[0].Addr() != "127.0.0.1:9001" || got[0].Rack != nil {
		t.Fatalf("broker 1 = %+v", got[0])
	}
	if got[1].ID != 2 || got[1].Addr() != "127.0.0.1:9002" || got[1].Rack == nil || *got[1].Rack != rack {
		t.Fatalf("broker 2 = %+v", got[1])
	}
	if ids := brokerIDs(b.Brokers()); !slices.Equal(ids, []int32{1, 2}) {
		t.Fatalf("broker 2 sees brokers %v, want [1 2]", ids)
	}

	// The endpoint becomes known after binding: others see the update.
	if err := b.UpdateRegistration(Broker{ID: 2, Host: "127.0.0.1", Port: 19092, Rack: &rack}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, a, "broker 2's new port", func() bool {
		bs := a.Brokers()
		return len(bs) == 2 && bs[1].Port == 19092
	})

	// Kafka-compatible registration JSON.
	raw := zkServer.Client(t)
	data, stat, err := raw.Get(connect[len(zkServer.Addr):] + "/brokers/ids/2")
	if err != nil {
		t.Fatal(err)
	}
	if stat.EphemeralOwner != b.SessionID() {
		t.Fatalf("registration owned by session 0x%x, want 0x%x", stat.EphemeralOwner, b.SessionID())
	}
	var info map[string]any
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	if info["host"] != "127.0.0.1" || info["port"] != float64(19092) || info["rack"] != rack || info["version"] != float64(5) {
		t.Fatalf("registration %s", data)
	}

	// Closing a store ends its session: the ephemeral registration goes at once.
	b.Close()
	waitUntil(t, a, "broker 2 gone", func() bool { return slices.Equal(brokerIDs(a.Brokers()), []int32{1}) })
}

func TestZKDuplicateBrokerIDRejected(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	first := openTestZK(t, connect, 7, ZKOptions{})

	_, err := OpenZK(connect, testBroker(7), ZKOptions{SessionTimeout: 6 * time.Second, Logger: testLogger(t)})
	if !errors.Is(err, ErrBrokerIDTaken) {
		t.Fatalf("second registration of id 7: err %v, want ErrBrokerIDTaken", err)
	}
	var taken *BrokerIDTakenError
	if !errors.As(err, &taken) || taken.ID != 7 || taken.OwnerSession != first.SessionID() {
		t.Fatalf("err %#v, want BrokerIDTakenError{ID: 7, OwnerSession: 0x%x}", err, first.SessionID())
	}
	if ids := brokerIDs(first.Brokers()); !slices.Equal(ids, []int32{7}) {
		t.Fatalf("brokers %v after the rejected registration, want [7]", ids)
	}

	// With RegistrationWait, a restarted broker waits out the old session.
	opened := make(chan error, 1)
	go func() {
		z, err := OpenZK(connect, Broker{ID: 7, Host: "127.0.0.1", Port: 17007}, ZKOptions{SessionTimeout: 6 * time.Second, RegistrationWait: zkTestWait, Logger: testLogger(t)})
		if err == nil {
			t.Cleanup(func() { z.Close() })
		}
		opened <- err
	}()
	time.Sleep(300 * time.Millisecond) // let it find the id taken and wait
	first.Close()
	if err := <-opened; err != nil {
		t.Fatalf("registration after the old session ended: %v", err)
	}
}

func TestZKControllerElection(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	stores := []*ZK{
		openTestZK(t, connect, 1, ZKOptions{}),
		openTestZK(t, connect, 2, ZKOptions{}),
		openTestZK(t, connect, 3, ZKOptions{}),
	}
	for _, z := range stores {
		if id := z.ControllerID(); id != -1 {
			t.Fatalf("controller %d before any election", id)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan campaignResult, len(stores))
	for _, z := range stores {
		campaignAsync(ctx, z, results)
	}

	first := nextResult(t, results)
	if first.epoch != 1 {
		t.Fatalf("first controller epoch %d, want 1", first.epoch)
	}
	select {
	case r := <-results:
		t.Fatalf("broker %d also won (epoch %d, err %v) while %d holds the controllership", r.z.Self().ID, r.epoch, r.err, first.z.Self().ID)
	case <-time.After(300 * time.Millisecond):
	}
	for _, z := range stores {
		waitUntil(t, z, "the first controller", func() bool {
			id, epoch := z.Controller()
			return id == first.z.Self().ID && epoch == 1
		})
	}
	if epoch, ok := first.z.IsController(); !ok || epoch != 1 {
		t.Fatalf("winner IsController = %d, %v", epoch, ok)
	}
	lost := first.z.LeadershipLost()
	select {
	case <-lost:
		t.Fatal("leadership lost channel closed while still controller")
	default:
	}
	// Campaigning again while controller returns the current epoch.
	if epoch, err := first.z.Campaign(ctx); err != nil || epoch != 1 {
		t.Fatalf("Campaign by the controller = %d, %v; want 1, nil", epoch, err)
	}

	// The controller's session ends: another broker wins a higher epoch.
	first.z.Close()
	<-lost
	second := nextResult(t, results)
	if second.epoch != 2 || second.z == first.z {
		t.Fatalf("second election: broker %d epoch %d, want another broker with epoch 2", second.z.Self().ID, second.epoch)
	}

	// Resigning hands over at once to the last broker.
	lost2 := second.z.LeadershipLost()
	if err := second.z.Resign(); err != nil {
		t.Fatal(err)
	}
	<-lost2
	if _, ok := second.z.IsController(); ok {
		t.Fatal("still controller after Resign")
	}
	third := nextResult(t, results)
	if third.epoch != 3 || third.z == first.z || third.z == second.z {
		t.Fatalf("third election: broker %d epoch %d, want the remaining broker with epoch 3", third.z.Self().ID, third.epoch)
	}
	waitUntil(t, second.z, "the third controller", func() bool {
		id, epoch := second.z.Controller()
		return id == third.z.Self().ID && epoch == 3
	})
}

func TestZKCampaignStopsWithContext(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	b := openTestZK(t, connect, 2, ZKOptions{})
	if _, err := a.Campaign(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if epoch, err := b.Campaign(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign while another is controller = %d, %v; want context.DeadlineExceeded", epoch, err)
	}
	if _, ok := b.IsController(); ok {
		t.Fatal("broker 2 became controller")
	}
}

// A paused broker (cut off the network, as by SIGSTOP) loses its session
// after the session timeout: its registration and controllership go,
// another broker takes over with a higher epoch, and when it comes back it
// learns of the expiry, gets a new session and registers again.
func TestZKSessionExpiryOfPausedBroker(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	const sessionTimeout = time.Second
	dialer := &cutDialer{}
	paused := openTestZK(t, connect, 1, ZKOptions{SessionTimeout: sessionTimeout, Dialer: dialer.Dial})
	other := openTestZK(t, connect, 2, ZKOptions{})
	if epoch, err := paused.Campaign(context.Background()); err != nil || epoch != 1 {
		t.Fatalf("Campaign = %d, %v", epoch, err)
	}
	lost := paused.LeadershipLost()
	events := paused.SessionEvents()
	oldSession := paused.SessionID()
	results := make(chan campaignResult, 1)
	campaignAsync(context.Background(), other, results)
	waitUntil(t, other, "both brokers", func() bool { return len(other.Brokers()) == 2 })

	dialer.Cut()
	if ev := nextSessionEvent(t, events); ev.Kind != SessionDisconnected || ev.SessionID != oldSession {
		t.Fatalf("first event %+v, want disconnected of 0x%x", ev, oldSession)
	}
	won := nextResult(t, results)
	if won.epoch != 2 {
		t.Fatalf("takeover epoch %d, want 2", won.epoch)
	}
	waitUntil(t, other, "the paused broker's registration to expire", func() bool {
		return slices.Equal(brokerIDs(other.Brokers()), []int32{2})
	})
	// Without a connection for a session timeout it stops acting as controller.
	if ev := nextSessionEvent(t, events); ev.Kind != SessionLost {
		t.Fatalf("second event %+v, want lost", ev)
	}
	<-lost
	if _, ok := paused.IsController(); ok {
		t.Fatal("paused broker still believes it is the controller")
	}

	dialer.Heal()
	if ev := nextSessionEvent(t, events); ev.Kind != SessionExpired {
		t.Fatalf("third event %+v, want expired", ev)
	}
	ev := nextSessionEvent(t, events)
	if ev.Kind != SessionRecreated || ev.Err != nil || ev.SessionID == oldSession || ev.SessionID != paused.SessionID() {
		t.Fatalf("fourth event %+v, want recreated with a new session and no error", ev)
	}
	waitUntil(t, other, "the broker to register again", func() bool {
		return slices.Equal(brokerIDs(other.Brokers()), []int32{1, 2})
	})
	// Its watches were re-armed on the new session: it follows changes again.
	if _, err := other.CreateTopic(Topic{Name: "after-expiry", Partitions: []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, paused, "a topic created after the expiry", func() bool {
		_, ok := paused.Topic("after-expiry")
		return ok
	})
	waitUntil(t, paused, "the new controller", func() bool {
		id, epoch := paused.Controller()
		return id == 2 && epoch == 2
	})
}

// A controller that missed a newer election cannot write partition state
// with its old epoch.
func TestZKStaleControllerIsFenced(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	z := openTestZK(t, connect, 1, ZKOptions{})
	epoch, err := z.Campaign(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.CreateTopic(Topic{Name: "fenced", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, version, err := z.PartitionStateVersion("fenced", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Another election happened behind this controller's back.
	raw := zkServer.Client(t)
	epochPath := connect[len(zkServer.Addr):] + "/controller_epoch"
	if _, err := raw.Set(epochPath, []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	_, err = z.SetPartitionState("fenced", 0, PartitionState{ISR: []int32{1}, Leader: 1, LeaderEpoch: 1}, epoch, version)
	if !errors.Is(err, ErrNotController) {
		t.Fatalf("stale controller write: %v, want ErrNotController", err)
	}
	if _, ok := z.IsController(); ok {
		t.Fatal("still controller after being fenced")
	}
	st, v, err := z.PartitionStateVersion("fenced", 0)
	if err != nil || v != version || st.LeaderEpoch != 0 {
		t.Fatalf("state after the fenced write: %+v version %d (%v); want unchanged version %d", st, v, err, version)
	}
}

func TestZKCreateTopicVisibleThroughWatches(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	b := openTestZK(t, connect, 2, ZKOptions{})
	changes := b.Changes()

	want := Topic{
		Name: "orders",
		Partitions: []PartitionState{
			{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
			{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2},
			{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 4},
		},
		Configs: map[string]string{"retention.ms": "60000", "min.insync.replicas": "2"},
	}
	created, err := a.CreateTopic(want)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == ([16]byte{}) {
		t.Fatal("CreateTopic left the id zero")
	}
	want.ID = created.ID
	assertTopic(t, "creator's result", created, want)
	if got, ok := a.Topic("orders"); !ok {
		t.Fatal("creator does not read its own write")
	} else {
		assertTopic(t, "creator's cache", got, want)
	}

	select {
	case <-changes:
	case <-time.After(zkTestWait):
		t.Fatal("Changes did not fire on the other broker")
	}
	waitUntil(t, b, "the topic", func() bool { _, ok := b.Topic("orders"); return ok })
	got, _ := b.Topic("orders")
	assertTopic(t, "other broker's cache", got, want)
	if ts := b.Topics(); len(ts) != 1 || ts[0].Name != "orders" {
		t.Fatalf("Topics() = %v", ts)
	}

	if _, err := b.CreateTopic(Topic{Name: "orders", Partitions: []PartitionState{{Replicas: []int32{2}, Leader: -1}}}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate CreateTopic: %v, want ErrTopicExists", err)
	}
	for _, bad := range []Topic{
		{Name: "a/b", Partitions: []PartitionState{{Replicas: []int32{1}, Leader: -1}}},
		{Name: "..", Partitions: []PartitionState{{Replicas: []int32{1}, Leader: -1}}},
		{Name: "no-partitions"},
		{Name: "no-replicas", Partitions: []PartitionState{{}}},
		{Name: "dup-replicas", Partitions: []PartitionState{{Replicas: []int32{1, 1}, Leader: -1}}},
		{Name: "leader-not-in-isr", Partitions: []PartitionState{{Replicas: []int32{0, 1}}}},
		{Name: "leader-not-replica", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 3}}},
	} {
		if _, err := a.CreateTopic(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateTopic(%q): %v, want ErrInvalid", bad.Name, err)
		}
	}

	// The znodes follow Kafka's layout.
	raw := zkServer.Client(t)
	root := connect[len(zkServer.Addr):]
	var assignment struct {
		Version    int                `json:"version"`
		TopicID    string             `json:"topic_id"`
		Partitions map[string][]int32 `json:"partitions"`
	}
	getJSON(t, raw, root+"/brokers/topics/orders", &assignment)
	if assignment.Version != 3 || assignment.TopicID != TopicIDString(created.ID) || len(assignment.Partitions) != 3 ||
		!slices.Equal(assignment.Partitions["1"], []int32{2, 1}) {
		t.Fatalf("assignment %+v", assignment)
	}
	var state map[string]any
	getJSON(t, raw, root+"/brokers/topics/orders/partitions/2/state", &state)
	if state["version"] != float64(1) || state["leader"] != float64(1) || state["leader_epoch"] != float64(4) ||
		state["controller_epoch"] != float64(0) || len(state["isr"].([]any)) != 1 {
		t.Fatalf("partition state %v", state)
	}
	var config struct {
		Version int               `json:"version"`
		Config  map[string]string `json:"config"`
	}
	getJSON(t, raw, root+"/config/topics/orders", &config)
	if config.Version != 1 || len(config.Config) != 2 || config.Config["retention.ms"] != "60000" {
		t.Fatalf("config %+v", config)
	}
}

func TestZKPartitionStateCompareAndSet(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	controller := openTestZK(t, connect, 1, ZKOptions{})
	leader := openTestZK(t, connect, 2, ZKOptions{})
	epoch, err := controller.Campaign(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controller.CreateTopic(Topic{Name: "cas", Partitions: []PartitionState{{Replicas: []int32{2, 1, 3}, ISR: []int32{2, 1, 3}, Leader: 2}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, leader, "the topic", func() bool { _, ok := leader.Topic("cas"); return ok })

	st, v0, err := leader.PartitionStateVersion("cas", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != 2 || !slices.Equal(st.ISR, []int32{2, 1, 3}) || !slices.Equal(st.Replicas, []int32{2, 1, 3}) {
		t.Fatalf("initial state %+v", st)
	}
	_, cv0, err := controller.PartitionStateVersion("cas", 0)
	if err != nil || cv0 != v0 {
		t.Fatalf("controller read version %d (%v), leader read %d", cv0, err, v0)
	}

	// The leader shrinks the ISR first...
	v1, err := leader.SetPartitionState("cas", 0, PartitionState{ISR: []int32{2, 1}, Leader: 2}, epoch, v0)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != v0+1 {
		t.Fatalf("version after the ISR change %d, want %d", v1, v0+1)
	}
	// ...so the controller's election based on the older read must fail.
	_, err = controller.SetPartitionState("cas", 0, PartitionState{ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 1}, epoch, v0)
	if !errors.Is(err, ErrBadVersion) || !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("stale write: %v, want ErrBadVersion", err)
	}
	var conflict *VersionConflictError
	if !errors.As(err, &conflict) || conflict.ExpectedVersion != v0 {
		t.Fatalf("stale write error %#v", err)
	}
	if _, ok := controller.IsController(); !ok {
		t.Fatal("a version conflict must not end the controllership")
	}
	// It re-reads, sees the leader's ISR and decides again.
	st, v, err := controller.PartitionStateVersion("cas", 0)
	if err != nil || v != v1 || !slices.Equal(st.ISR, []int32{2, 1}) {
		t.Fatalf("re-read %+v version %d (%v)", st, v, err)
	}
	v2, err := controller.SetPartitionState("cas", 0, PartitionState{ISR: []int32{1}, Leader: 1, LeaderEpoch: 1}, epoch, v)
	if err != nil || v2 != v1+1 {
		t.Fatalf("retried write: version %d, %v", v2, err)
	}
	if got, _ := controller.Topic("cas"); got.Partitions[0].Leader != 1 || got.Partitions[0].LeaderEpoch != 1 || !slices.Equal(got.Partitions[0].ISR, []int32{1}) {
		t.Fatalf("controller's cache after its write: %+v", got.Partitions[0])
	}
	waitUntil(t, leader, "the new leader", func() bool {
		got, _ := leader.Topic("cas")
		p := got.Partitions[0]
		return p.Leader == 1 && p.LeaderEpoch == 1 && slices.Equal(p.ISR, []int32{1})
	})

	if _, err := leader.SetPartitionState("cas", 0, PartitionState{ISR: []int32{1}, Leader: 4}, epoch, v2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("leader outside the replicas: %v, want ErrInvalid", err)
	}
	if _, err := leader.SetPartitionState("cas", 0, PartitionState{ISR: []int32{3}, Leader: 2}, epoch, v2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("leader outside the ISR: %v, want ErrInvalid", err)
	}
	if _, _, err := leader.PartitionStateVersion("cas", 1); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
	if _, err := leader.SetPartitionState("nope", 0, PartitionState{Leader: -1}, epoch, 0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestZKAddPartitionsAndConfigs(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	b := openTestZK(t, connect, 2, ZKOptions{})
	if _, err := a.CreateTopic(Topic{Name: "grow", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	got, err := a.AddPartitions("grow", []PartitionState{
		{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2},
		{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Partitions) != 3 || got.Partitions[1].Leader != 2 || !slices.Equal(got.Partitions[2].Replicas, []int32{1, 2}) {
		t.Fatalf("after AddPartitions: %+v", got.Partitions)
	}
	waitUntil(t, b, "three partitions with states", func() bool {
		t, ok := b.Topic("grow")
		return ok && len(t.Partitions) == 3 && t.Partitions[2].Leader == 1 && slices.Equal(t.Partitions[2].ISR, []int32{1, 2})
	})

	got, err = b.SetTopicConfigs("grow", map[string]string{"cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Configs) != 1 || got.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("configs after SetTopicConfigs: %v", got.Configs)
	}
	waitUntil(t, a, "the new config", func() bool {
		t, _ := a.Topic("grow")
		return len(t.Configs) == 1 && t.Configs["cleanup.policy"] == "compact"
	})
	// A config node removed by hand is re-created; watchers still follow.
	raw := zkServer.Client(t)
	if err := raw.Delete(connect[len(zkServer.Addr):]+"/config/topics/grow", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetTopicConfigs("grow", map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, a, "the re-created config", func() bool {
		t, _ := a.Topic("grow")
		return len(t.Configs) == 1 && t.Configs["retention.ms"] == "1000"
	})

	if _, err := a.AddPartitions("missing", []PartitionState{{Replicas: []int32{1}, Leader: -1}}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("AddPartitions on a missing topic: %v", err)
	}
	if _, err := a.SetTopicConfigs("missing", nil); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("SetTopicConfigs on a missing topic: %v", err)
	}
}

func TestZKDeleteTopic(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	b := openTestZK(t, connect, 2, ZKOptions{})
	parts := []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, {Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2}}
	first, err := a.CreateTopic(Topic{Name: "doomed", Partitions: parts, Configs: map[string]string{"retention.ms": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic(Topic{Name: "kept", Partitions: parts[:1]}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, b, "both topics", func() bool { return len(b.Topics()) == 2 })

	if err := b.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Topic("doomed"); ok {
		t.Fatal("deleter still sees the topic")
	}
	waitUntil(t, a, "the deletion", func() bool { _, ok := a.Topic("doomed"); return !ok })
	if ts := a.Topics(); len(ts) != 1 || ts[0].Name != "kept" {
		t.Fatalf("topics after deletion: %v", ts)
	}
	raw := zkServer.Client(t)
	root := connect[len(zkServer.Addr):]
	for _, p := range []string{"/brokers/topics/doomed", "/config/topics/doomed"} {
		if ok, _, err := raw.Exists(root + p); err != nil || ok {
			t.Fatalf("%s exists=%v (%v) after deletion", p, ok, err)
		}
	}
	pending, err := a.PendingDeletions()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Name != "doomed" || pending[0].ID != first.ID || !slices.Equal(pending[0].Pending, []int32{1, 2}) {
		t.Fatalf("pending deletions %+v, want doomed with id %x waiting for brokers 1 and 2", pending, first.ID)
	}

	// The name can be reused at once; the new topic has a new id.
	second, err := a.CreateTopic(Topic{Name: "doomed", Partitions: parts[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("re-created topic kept the old id")
	}
	waitUntil(t, b, "the re-created topic", func() bool {
		got, ok := b.Topic("doomed")
		return ok && got.ID == second.ID && len(got.Partitions) == 1 && len(got.Configs) == 0
	})

	// Broker 1 deleted its copies of the first incarnation; broker 2 has
	// not. Deleting the second one (replicas 1 and 2) makes broker 1
	// pending again and keeps broker 2, whose copy of the first may still
	// be out there.
	if err := a.AckDeletion("doomed", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	wantPending := func(want ...int32) {
		t.Helper()
		pending, err := b.PendingDeletions()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(want) == 0 && len(pending) == 0:
		case len(pending) != 1 || pending[0].ID != second.ID || !slices.Equal(pending[0].Pending, want):
			t.Fatalf("pending deletions %+v, want doomed with id %x waiting for %v", pending, second.ID, want)
		}
	}
	wantPending(1, 2)
	if err := b.AckDeletion("doomed", 2); err != nil {
		t.Fatal(err)
	}
	wantPending(1)
	if err := b.AckDeletion("doomed", 3); err != nil { // not pending: no change
		t.Fatal(err)
	}
	wantPending(1)
	if err := a.AckDeletion("doomed", 1); err != nil {
		t.Fatal(err)
	}
	wantPending() // the last acknowledgement removed the marker
	if err := a.AckDeletion("doomed", 1); err != nil {
		t.Fatalf("acknowledging a cleared deletion: %v", err)
	}

	// ClearDeletion removes a marker whatever it waits for.
	third, err := a.CreateTopic(Topic{Name: "doomed", Partitions: parts[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	if pending, err := a.PendingDeletions(); err != nil || len(pending) != 1 || pending[0].ID != third.ID {
		t.Fatalf("pending deletions of the third: %+v (%v)", pending, err)
	}
	if err := a.ClearDeletion("doomed"); err != nil {
		t.Fatal(err)
	}
	if pending, err := a.PendingDeletions(); err != nil || len(pending) != 0 {
		t.Fatalf("pending deletions after clearing: %v (%v)", pending, err)
	}
	if err := a.DeleteTopic("never-existed"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("deleting an unknown topic: %v", err)
	}
}

func TestZKChrootIsolation(t *testing.T) {
	t.Parallel()
	base := testConnect(t)
	left := openTestZK(t, base+"/left", 1, ZKOptions{})
	right := openTestZK(t, base+"/right", 1, ZKOptions{}) // same id, other cluster
	if left.ClusterID() == right.ClusterID() {
		t.Fatal("two chroots share a cluster id")
	}
	if _, err := left.CreateTopic(Topic{Name: "only-left", Partitions: []PartitionState{{Replicas: []int32{1}, Leader: -1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := left.Campaign(context.Background()); err != nil {
		t.Fatal(err)
	}
	if epoch, err := right.Campaign(context.Background()); err != nil || epoch != 1 {
		t.Fatalf("Campaign in the other chroot = %d, %v; want its own epoch 1", epoch, err)
	}
	if ts := right.Topics(); len(ts) != 0 {
		t.Fatalf("other chroot sees topics %v", ts)
	}
	raw := zkServer.Client(t)
	root := base[len(zkServer.Addr):]
	for _, p := range []string{"/left/brokers/ids/1", "/left/brokers/topics/only-left", "/left/controller", "/right/brokers/ids/1", "/right/cluster/id"} {
		if ok, _, err := raw.Exists(root + p); err != nil || !ok {
			t.Fatalf("%s exists=%v (%v)", root+p, ok, err)
		}
	}
	if ok, _, err := raw.Exists(root + "/right/brokers/topics/only-left"); err != nil || ok {
		t.Fatalf("topic leaked into the other chroot: exists=%v (%v)", ok, err)
	}
	// Nothing is written outside the chroot.
	for _, p := range []string{"/brokers", "/controller", "/cluster", "/config", "/admin"} {
		if ok, _, err := raw.Exists(p); err != nil || ok {
			t.Fatalf("%s exists=%v (%v) outside every chroot", p, ok, err)
		}
	}
}

func TestParseZKConnect(t *testing.T) {
	for _, c := range []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{in: "127.0.0.1:2181", servers: []string{"127.0.0.1:2181"}},
		{in: "a:1,b:2/sluice", servers: []string{"a:1", "b:2"}, chroot: "/sluice"},
		{in: "a:1/x/y", servers: []string{"a:1"}, chroot: "/x/y"},
		{in: "a:1/", servers: []string{"a:1"}},
		{in: "a:1/x/", bad: true},
		{in: "a:1//x", bad: true},
		{in: "a", bad: true},
		{in: "", bad: true},
	} {
		servers, chroot, err := parseZKConnect(c.in)
		if c.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err %v, want ErrInvalid", c.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(servers, c.servers) || chroot != c.chroot {
			t.Errorf("%q = %v %q %v; want %v %q", c.in, servers, chroot, err, c.servers, c.chroot)
		}
	}
}

func assertTopic(t *testing.T, what string, got, want Topic) {
	t.Helper()
	if got.Name != want.Name || got.ID != want.ID || len(got.Partitions) != len(want.Partitions) || len(got.Configs) != len(want.Configs) {
		t.Fatalf("%s: %+v, want %+v", what, got, want)
	}
	for k, v := range want.Configs {
		if got.Configs[k] != v {
			t.Fatalf("%s: config %s=%q, want %q", what, k, got.Configs[k], v)
		}
	}
	for i, w := range want.Partitions {
		g := got.Partitions[i]
		if !slices.Equal(g.Replicas, w.Replicas) || !slices.Equal(g.ISR, w.ISR) || g.Leader != w.Leader || g.LeaderEpoch != w.LeaderEpoch {
			t.Fatalf("%s: partition %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func getJSON(t *testing.T, raw *zk.Conn, path string, v any) {
	t.Helper()
	data, _, err := raw.Get(path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, data)
	}
}

// /controller owned by this session without a term (an election whose reply
// was lost to a reconnect, or a term ended while disconnected) must not
// block elections forever: Campaign releases it and runs a new election.
func TestZKCampaignReleasesOrphanedControllerNode(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	z := openTestZK(t, connect, 1, ZKOptions{})
	ctrl := z.abs(zkControllerPath)
	if _, err := z.conn.Create(ctrl, encodeController(1), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	_, orphan, err := z.conn.Exists(ctrl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), zkTestWait)
	defer cancel()
	epoch, err := z.Campaign(ctx)
	if err != nil || epoch != 1 {
		t.Fatalf("Campaign = %d, %v; want 1, nil", epoch, err)
	}
	_, stat, err := z.conn.Exists(ctrl)
	if err != nil || stat.EphemeralOwner != z.SessionID() || stat.Czxid == orphan.Czxid {
		t.Fatalf("controller node after the election: %+v, %v; want a new node of session 0x%x", stat, err, z.SessionID())
	}
}

// TestZKLostRegistrationHeals: a broker whose /brokers/ids node is deleted
// while its session lives (by an operator's hand, here the test's)
// registers again on its next listing instead of staying invisible to its
// peers.
func TestZKLostRegistrationHeals(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	b := openTestZK(t, connect, 2, ZKOptions{})
	waitUntil(t, a, "both brokers", func() bool { return len(a.Brokers()) == 2 })

	raw := zkServer.Client(t)
	path := connect[len(zkServer.Addr):] + "/brokers/ids/2"
	if err := raw.Delete(path, -1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(zkTestWait)
	for {
		_, stat, err := raw.Get(path)
		if err == nil && stat.EphemeralOwner == b.SessionID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 2 not registered again within %v (last read: %v)", zkTestWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUntil(t, a, "broker 2 listed again", func() bool { return slices.Equal(brokerIDs(a.Brokers()), []int32{1, 2}) })
	if ids := brokerIDs(b.Brokers()); !slices.Equal(ids, []int32{1, 2}) {
		// b's own cache follows its re-registration through the watch.
		waitUntil(t, b, "broker 2 lists itself", func() bool { return slices.Equal(brokerIDs(b.Brokers()), []int32{1, 2}) })
	}
}
