package meta

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/nats-io/nuid"
)

// ZKOptions tunes OpenZK. Zero values pick the defaults noted per field.
type ZKOptions struct {
	// SessionTimeout is the ZooKeeper session timeout: how long the server
	// keeps this broker's ephemeral nodes (registration, controllership)
	// after it stops hearing from it. The server clamps it to
	// [2, 20] × its tickTime. Default 18s, Kafka's default.
	SessionTimeout time.Duration
	// ConnectTimeout bounds how long OpenZK waits for the first session.
	// Default: SessionTimeout.
	ConnectTimeout time.Duration
	// RegistrationWait is how long registration waits for another session's
	// /brokers/ids/<id> to go away before failing with BrokerIDTakenError.
	// A broker restarted right after a crash finds its previous session's
	// node still there until that session times out; waiting up to
	// SessionTimeout lets it rejoin. Default 0: fail at once.
	RegistrationWait time.Duration
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// Dialer opens the TCP connections to ZooKeeper servers. Default
	// net.DialTimeout. Tests use it to cut a client off the network
	// without closing its session, as a paused process would.
	Dialer func(network, address string, timeout time.Duration) (net.Conn, error)
	// Security: digest authentication and secure ACLs on created znodes
	// (zk_security.go). Zero: unauthenticated, world-writable nodes.
	Security ZKSecurity
}

const (
	defaultZKSessionTimeout = 18 * time.Second
	// zkCacheWait bounds how long a write waits for its own change to reach
	// the watch-fed cache (normally one round trip).
	zkCacheWait = 5 * time.Second
	// zkRetryMin and zkRetryMax bound the backoff of watch loops that lost
	// their connection.
	zkRetryMin = 50 * time.Millisecond
	zkRetryMax = time.Second
)

// ZK is the ZooKeeper-backed cluster metadata store (see
// docs/zookeeper-layout.md for the znodes). It keeps a cached view of
// brokers, the controller and topics that ZooKeeper watches keep current;
// Topics, Topic, Brokers and ControllerID read the cache, Changes announces
// updates. Writes go to ZooKeeper and wait (briefly) until the cache shows
// them, so a caller reads its own writes.
//
// Beyond meta.Store it offers the primitives a controller and replication
// need: controller election with fenced epochs (Campaign, Resign,
// LeadershipLost), compare-and-set partition state (PartitionStateVersion,
// SetPartitionState), session events (SessionEvents) and deletion markers
// (PendingDeletions, ClearDeletion).
type ZK struct {
	conn      *zk.Conn
	chroot    string // "" or an absolute path prefixed to every znode path
	opts      ZKOptions
	log       *slog.Logger
	clusterID string

	selfMu sync.Mutex // guards self
	self   Broker

	mu           sync.RWMutex // guards the cache below and changed
	brokers      map[int32]Broker
	brokerSess   map[int32]int64 // registration owner session by broker id (zk_shutdown.go)
	brokerEpoch  map[int32]int64 // registration czxid by broker id: its epoch (zk_brokerepoch.go)
	controllerID int32
	ctrlEpoch    int32
	topics       map[string]*zkTopicEntry
	changed      chan struct{}

	termMu sync.Mutex // guards term
	term   *controllerTerm

	sess zkSession

	acls zkACLs // see zk_acls.go

	shut zkShutdowns // controlled shutdown requests (zk_shutdown.go)

	bcfg zkBrokerConfigs // dynamic broker configs (zk_brokerconfigs.go)

	nodeACLs zkACLSet // the ACLs new znodes get (zk_security.go)

	rescanTopics chan struct{} // nudges the topics loop to re-list
	done         chan struct{} // closed by Close
	closeOnce    sync.Once
	wg           sync.WaitGroup // watch loops and the session loop
}

// OpenZK connects to ZooKeeper, creates the base paths (and the chroot) if
// absent, creates the cluster id once, registers self as an ephemeral
// /brokers/ids/<id>, loads the cached view and starts the watches that keep
// it current.
//
// servers is "host:port[,host:port...][/chroot]", like Kafka's
// zookeeper.connect. Registration fails with a *BrokerIDTakenError
// (errors.Is ErrBrokerIDTaken) when another live session holds self.ID.
func OpenZK(servers string, self Broker, opts ZKOptions) (*ZK, error) {
	addrs, chroot, err := parseZKConnect(servers)
	if err != nil {
		return nil, err
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = defaultZKSessionTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = opts.SessionTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Security.Digest != "" {
		if _, err := ParseZKDigest(opts.Security.Digest); err != nil {
			return nil, fmt.Errorf("meta: %w", err)
		}
	}
	nodeACLs, err := newZKACLSet(opts.Security)
	if err != nil {
		return nil, err
	}
	z := &ZK{
		nodeACLs:     nodeACLs,
		chroot:       chroot,
		opts:         opts,
		log:          opts.Logger.With("component", "meta.zk", "broker", self.ID),
		self:         self,
		brokers:      map[int32]Broker{},
		controllerID: -1,
		topics:       map[string]*zkTopicEntry{},
		changed:      make(chan struct{}),
		rescanTopics: make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	z.sess.init()

	dialer := zk.Dialer(net.DialTimeout)
	if opts.Dialer != nil {
		dialer = opts.Dialer
	}
	// The event channel Connect returns is not read: session events arrive
	// through the callback, which never drops them.
	conn, _, err := zk.Connect(addrs, opts.SessionTimeout,
		zk.WithDialer(dialer),
		zk.WithLogger(zkLogAdapter{z.log}),
		zk.WithLogInfo(false),
		zk.WithEventCallback(z.onZKEvent),
	)
	if err != nil {
		return nil, fmt.Errorf("meta: zookeeper connect: %w", err)
	}
	z.conn = conn
	z.wg.Add(1)
	go z.runSession()

	if err := z.open(); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

func (z *ZK) open() error {
	select {
	case <-z.sess.firstSession:
	case <-time.After(z.opts.ConnectTimeout):
		return fmt.Errorf("%w: none within %v", ErrNoSession, z.opts.ConnectTimeout)
	}
	if err := z.authenticate(); err != nil {
		return err
	}
	if sec := z.opts.Security; sec.Digest != "" {
		user, _, _ := strings.Cut(sec.Digest, ":")
		z.log.Info("zookeeper session authenticated", "scheme", "digest", "user", user, "secure_acls", sec.SetACL)
	}
	if err := z.ensureBasePaths(); err != nil {
		return err
	}
	if err := z.checkAccess(); err != nil {
		return err
	}
	id, err := z.ensureClusterID()
	if err != nil {
		return err
	}
	z.clusterID = id
	if err := z.register(z.opts.RegistrationWait); err != nil {
		return err
	}
	return z.startWatches()
}

// abs maps a layout path to its znode path under the chroot.
func (z *ZK) abs(p string) string { return z.chroot + p }

// ensureBasePaths creates the chroot and the persistent layout parents.
func (z *ZK) ensureBasePaths() error {
	var paths []string
	if z.chroot != "" {
		parts := strings.Split(strings.TrimPrefix(z.chroot, "/"), "/")
		for i := range parts {
			paths = append(paths, "/"+strings.Join(parts[:i+1], "/"))
		}
	}
	for _, p := range zkBasePaths {
		paths = append(paths, z.abs(p))
	}
	for _, p := range paths {
		if err := z.createIfAbsent(p, nil); err != nil {
			return err
		}
	}
	// Kafka starts the controller epoch at 0; the first election makes it 1.
	return z.createIfAbsent(z.abs(zkControllerEpochPath), encodeInt32(0))
}

// ensureClusterID creates /cluster/id unless it exists; whoever creates it
// first decides the cluster id.
func (z *ZK) ensureClusterID() (string, error) {
	path := z.abs(zkClusterIDPath)
	want := zkClusterID{Version: "1", ID: nuid.Next()}
	if err := z.createIfAbsent(path, mustJSON(want)); err != nil {
		return "", err
	}
	data, _, err := z.conn.Get(path)
	if err != nil {
		return "", fmt.Errorf("meta: read %s: %w", path, err)
	}
	var got zkClusterID
	if err := json.Unmarshal(data, &got); err != nil || got.ID == "" {
		return "", fmt.Errorf("meta: bad cluster id in %s: %q", path, data)
	}
	return got.ID, nil
}

// Close ends this broker's session, which deletes its registration and,
// if it is the controller, /controller at once; stops the watches and
// closes the session event channels.
func (z *ZK) Close() error {
	z.closeOnce.Do(func() {
		close(z.done)
		z.endTerm("store closed")
		if z.conn != nil {
			z.conn.Close()
		}
		z.wg.Wait()
		z.sess.closeSubscribers()
	})
	return nil
}

// ClusterID is the id stored in /cluster/id.
func (z *ZK) ClusterID() string { return z.clusterID }

// ControllerID is the broker holding /controller per the cache, -1 if none.
func (z *ZK) ControllerID() int32 {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.controllerID
}

// Controller returns the cached controller id (-1 if none) and the
// controller epoch last seen with it.
func (z *ZK) Controller() (id, epoch int32) {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.controllerID, z.ctrlEpoch
}

// Self is this broker as registered.
func (z *ZK) Self() Broker {
	z.selfMu.Lock()
	defer z.selfMu.Unlock()
	return z.self
}

// Brokers lists the registered (live) brokers by id.
func (z *ZK) Brokers() []Broker {
	z.mu.RLock()
	defer z.mu.RUnlock()
	out := make([]Broker, 0, len(z.brokers))
	for _, b := range z.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Topics lists the cached topics by name.
func (z *ZK) Topics() []Topic {
	z.mu.RLock()
	defer z.mu.RUnlock()
	out := make([]Topic, 0, len(z.topics))
	for _, e := range z.topics {
		out = append(out, e.topic())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Topic returns the cached topic.
func (z *ZK) Topic(name string) (Topic, bool) {
	z.mu.RLock()
	defer z.mu.RUnlock()
	e, ok := z.topics[name]
	if !ok {
		return Topic{}, false
	}
	return e.topic(), true
}

// Changes is closed and replaced whenever the cached view changes (topics,
// partition states, configs, brokers, controller).
func (z *ZK) Changes() <-chan struct{} {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.changed
}

// changedLocked announces a cache change. z.mu must be held for writing.
func (z *ZK) changedLocked() {
	close(z.changed)
	z.changed = make(chan struct{})
}

// awaitCache waits until cond (called with z.mu read-locked) holds, so a
// caller that just wrote reads its own write from the cache. The write has
// already succeeded, so a slow watch only costs a warning, not an error.
func (z *ZK) awaitCache(what string, cond func() bool) {
	timer := time.NewTimer(zkCacheWait)
	defer timer.Stop()
	for {
		z.mu.RLock()
		ok := cond()
		ch := z.changed
		z.mu.RUnlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			z.log.Warn("zookeeper write not yet visible in the watch cache", "write", what, "waited", zkCacheWait)
			return
		case <-z.done:
			return
		}
	}
}

// sleep waits d unless the store closes first; it reports whether to go on.
func (z *ZK) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-z.done:
		return false
	}
}

func (z *ZK) closed() bool {
	select {
	case <-z.done:
		return true
	default:
		return false
	}
}

// nextBackoff doubles d within [zkRetryMin, zkRetryMax].
func nextBackoff(d time.Duration) time.Duration {
	d *= 2
	if d < zkRetryMin {
		return zkRetryMin
	}
	if d > zkRetryMax {
		return zkRetryMax
	}
	return d
}

// zkLogAdapter sends the ZooKeeper client's (error-only) log lines to slog.
type zkLogAdapter struct{ l *slog.Logger }

func (a zkLogAdapter) Printf(format string, args ...any) {
	a.l.Info("zookeeper client: " + fmt.Sprintf(format, args...))
}

var _ Store = (*ZK)(nil)
