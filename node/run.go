// Package node assembles a Sluice broker process: the broker core, the
// Kafka protocol listener, the plugin registry and the HTTP listener (bridge
// and admin API). It is the composition root that cmd/sluice calls.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/console"
	"github.com/sluicemq/sluice/core/acl"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/kafka"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/pipeline"
	nodemetrics "github.com/sluicemq/sluice/node/metrics"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// Addrs are the bound listener addresses, reported once serving.
type Addrs struct {
	Kafka string
	HTTP  string // empty when the HTTP listener is off
	Admin string // the admin listener (--admin-addr); empty when not separate
}

// Run opens the broker on cfg.DataDir (recovering after an unclean
// shutdown), serves the Kafka protocol on cfg.KafkaAddr and HTTP on
// cfg.HTTPAddr until ctx is done, then shuts down cleanly (flush, close
// segments, clean-shutdown marker). ready, if non-nil, is called with the
// bound Kafka address once serving.
func Run(ctx context.Context, cfg Config, ready func(kafkaAddr string)) error {
	return RunWith(ctx, cfg, Options{}, func(a Addrs) {
		if ready != nil {
			ready(a.Kafka)
		}
	})
}

// Options configure the parts of a node beyond the broker core.
type Options struct {
	// Bridge configures the HTTP bridge; Brokers, Hooks and Logger are
	// filled in by the node.
	Bridge bridge.Config

	// Security of the HTTP side (docs/security.md). Authorizer decides what
	// bridge and admin principals may do (nil: AllowAll; the bridge then
	// keeps its token grants); PasswordVerifier checks admin HTTP Basic
	// credentials (nil: no Basic).
	Authorizer       auth.Authorizer
	PasswordVerifier auth.PasswordVerifier
	Admin            AdminOptions
	// HTTPTLS serves the HTTP (and admin) listeners over TLS.
	HTTPTLS TLSFiles
	// Security configures TLS and SASL on the Kafka port (security.go).
	Security Security
	// AuthorizerKind is "acl" (Kafka's ACLs, kept in the metadata store)
	// or "none"/"" (everything allowed); it sets Authorizer when that is
	// nil, so Kafka and HTTP share one authorizer.
	AuthorizerKind string
	// SuperUsers bypass ACLs (--super-users).
	SuperUsers []auth.Principal
	// Plugins are the plugin runtime's limits and budgets; CacheDir and
	// Logger are filled in by the node.
	Plugins wasm.Config
	// PluginKeepVersions is how many versions of each plugin are kept for
	// a rollback, the live one included (0: plugins.DefaultKeepVersions).
	PluginKeepVersions int
	// ZooKeeperSecurity: digest auth and secure znode ACLs (--zookeeper-*).
	ZooKeeperSecurity meta.ZKSecurity

	console *console.Console // set by RunWith; mounted with the admin API
}

// RunWith is Run with node options, reporting every bound address.
//
// Every part is pushed on one closer stack as soon as it has started; a
// start step that fails, and the shutdown, close what was started in
// reverse order.
func RunWith(ctx context.Context, cfg Config, opts Options, ready func(Addrs)) (err error) {
	cfg = cfg.Defaults()
	logger := cfg.Logger
	var closers closerStack // run in reverse order when RunWith returns
	defer func() { err = errors.Join(err, closers.close()) }()

	// Bind first: a cluster member registers its endpoint before it opens
	// its partitions.
	ln, err := net.Listen("tcp", cfg.KafkaAddr)
	if err != nil {
		return fmt.Errorf("kafka listener: %w", err)
	}
	closers.pushListener(ln)
	host, port, err := advertised(cfg.AdvertisedAddr, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return err
	}

	// The run mode is decided here and only here: the node opens the
	// metadata store (ZooKeeper for a cluster member, the local store in
	// the data dir for a single node) and hands it to the broker.
	var (
		store meta.Store
		roles broker.RoleHandler
		rm    *cluster.ReplicaManager
		ctrl  *cluster.Controller
		zk    *meta.ZK
		sec   *security
	)
	// The replication throttles start at the flags; dynamic broker configs
	// change them live (cluster.FollowThrottleConfigs, below).
	leaderThrottle := cluster.NewThrottle(cfg.LeaderReplicationThrottledRate)
	followerThrottle := cluster.NewThrottle(cfg.FollowerReplicationThrottledRate)
	if cfg.ZooKeeper != "" {
		zk, err = meta.OpenZK(cfg.ZooKeeper, meta.Broker{ID: cfg.BrokerID, Host: host, Port: port, Rack: cfg.Rack()}, meta.ZKOptions{
			SessionTimeout: cfg.ZooKeeperSessionTimeout,
			// A broker restarted right after a crash waits for its old
			// session's registration to expire.
			RegistrationWait: cfg.ZooKeeperSessionTimeout + 5*time.Second,
			Logger:           logger,
			Security:         opts.ZooKeeperSecurity,
		})
		if err != nil {
			return fmt.Errorf("zookeeper: %w", err)
		}
		closers.push(zk.Close)
		if sec, err = setupSecurity(ctx, opts.Security, zk, true, logger); err != nil {
			return err
		}
		rm, err = cluster.NewReplicaManager(cluster.Config{BrokerID: cfg.BrokerID, LagMax: cfg.ReplicaLagMax, Logger: logger, ClientOpts: sec.clientOpts,
			FollowerThrottle: followerThrottle,
			DataDir:          cfg.DataDir, CheckpointInterval: cfg.ReplicaHWCheckpointInterval, Fetchers: cfg.ReplicaFetchers}, zk, []string{ln.Addr().String()})
		if err != nil {
			return err
		}
		// Pushed again after the broker (ReplicaManager.Close is
		// idempotent): at shutdown the fetchers, which write into the
		// broker's partitions, stop before the broker closes them. This
		// entry stops them if the broker fails to open.
		closers.pushFunc(rm.Close)
		store, roles = zk, rm
	} else {
		// The local store lives in the data dir.
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		local, err := meta.OpenLocal(cfg.DataDir, meta.Broker{ID: cfg.BrokerID, Host: host, Port: port, Rack: cfg.Rack()})
		if err != nil {
			return err
		}
		closers.push(local.Close)
		store = local
	}
	b, err := broker.New(cfg.Config, store, roles)
	if err != nil {
		return err
	}
	closers.push(b.Close)
	b.SetAdvertised(host, port)
	closers.pushFunc(nodemetrics.Track(b, nodemetrics.Options{PartitionLabels: cfg.MetricsPartitionLabels}))
	creds, _ := b.Store().(meta.CredentialStore)
	if sec == nil {
		if sec, err = setupSecurity(ctx, opts.Security, creds, false, logger); err != nil {
			return err
		}
	}
	// Admin HTTP Basic checks the Kafka port's SCRAM users when there are
	// any to check.
	if opts.PasswordVerifier == nil && sec.cfg.SASL() && creds != nil {
		opts.PasswordVerifier = auth.StoreVerifier{Store: creds}
	}
	// The transaction coordinator follows __transaction_state leadership
	// like the group coordinator follows __consumer_offsets'; it starts
	// with the Kafka server (it writes markers through it).
	var txns atomic.Pointer[kafka.Transactions]
	if rm != nil {
		rm.OnLeadership = func(p *partition.Partition, leader bool) {
			b.GroupLeadership(p, leader)
			if t := txns.Load(); t != nil {
				t.Leadership(p, leader)
			}
		}
		closers.pushFunc(rm.Close)
		ctrl = cluster.NewController(cluster.ControllerConfig{
			BrokerID:                cfg.BrokerID,
			PreferredLeaderInterval: cfg.PreferredLeaderInterval,
			UncleanElection:         cfg.UncleanLeaderElection,
			Logger:                  logger,
		}, zk)
		cctx, stopController := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctrl.Run(cctx)
		}()
		closers.pushFunc(func() { stopController(); <-done })
	}

	reg, err := plugins.OpenWith(cfg.DataDir, logger, opts.Plugins)
	if err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	closers.push(reg.Close)
	if opts.PluginKeepVersions != 0 {
		if err := reg.SetKeepVersions(opts.PluginKeepVersions); err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
	}
	// Deploys need an existing topic; deleting a topic unbinds its plugins.
	reg.SetTopicExists(func(topic string) bool { _, ok := b.Topic(topic); return ok })

	// Brokers authenticate to each other as the inter-broker user: it
	// needs ClusterAction (replica fetches) whatever the ACLs say.
	if u := sec.cfg.InterBrokerUser; u != "" && !slices.Contains(opts.SuperUsers, auth.User(u)) {
		opts.SuperUsers = append(opts.SuperUsers, auth.User(u))
	}
	// The one produce/fetch pipeline: the only caller of the plugins for
	// Kafka requests and transform emits.
	pl := pipeline.New(pipeline.Config{Broker: b, Hooks: reg, Logger: logger, InternalTopic: kafka.IsInternalTopic})
	closers.push(pl.Close)
	kcfg := kafka.Config{MaxRequestBytes: cfg.MaxRequestBytes, Logger: logger, Hooks: reg, Pipeline: pl,
		TLS: sec.tls, SASL: sec.sasl, Credentials: creds,
		MaxDecodedRequestBytes: cfg.MaxDecodedRequestBytes, MaxConnections: cfg.MaxConnections,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP, QueuedMaxRequestBytes: cfg.QueuedMaxRequestBytes}
	kcfg.OnTopicDeleted = reg.TopicDeleted
	if ctrl != nil {
		kcfg.Elector = ctrl
	}
	kcfg.DisableSendfile = cfg.DisableSendfile
	kcfg.FetchSessionCacheSlots = cfg.FetchSessionCacheSlots
	kcfg.LeaderThrottle, kcfg.FollowerThrottle = leaderThrottle, followerThrottle
	closers.pushFunc(cluster.FollowThrottleConfigs(b.Store(), cfg.BrokerID, leaderThrottle, followerThrottle, logger))
	if err := setupAuthorizer(opts, b.Store(), &kcfg, &closers); err != nil {
		return err
	}
	if opts.Authorizer == nil {
		opts.Authorizer = kcfg.Authorizer
	}
	srv := kafka.New(b, kcfg)
	closers.push(srv.Close)
	t, err := srv.StartTransactions()
	if err != nil {
		return fmt.Errorf("transactions: %w", err)
	}
	txns.Store(t)
	t.LoadLed() // what it led before the hook could tell it
	serveErr := make(chan error, 3)
	go func() { serveErr <- srv.Serve(ln) }()
	addrs := Addrs{Kafka: ln.Addr().String()}
	logger.Info("kafka listener ready", "security_protocol", sec.cfg.Protocol, "addr", addrs.Kafka, "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))), "broker_id", cfg.BrokerID)

	// Plugin deployments are cluster-wide: the registry follows the
	// deployments topic through this broker's own listener.
	// In-process connections: the registry and the bridge talk to this
	// broker as itself (no credentials, authorized, unfiltered), whatever
	// the listener's security and ACLs say about outside clients.
	inProc := srv.InProcessDialer(sec.remoteDial, addrs.Kafka, net.JoinHostPort(host, strconv.Itoa(int(port))))
	// Emits to partitions other brokers lead go through an internal
	// producer that reaches them as a broker (inter-broker credentials);
	// it finds them through this broker's own listener.
	pl.SetRemote(append([]kgo.Opt{kgo.SeedBrokers(addrs.Kafka), kgo.Dialer(inProc)}, sec.saslOpts...))
	// Transaction markers for partitions other brokers lead go the same way.
	srv.SetMarkerRemote(append([]kgo.Opt{kgo.SeedBrokers(addrs.Kafka), kgo.Dialer(inProc)}, sec.saslOpts...)...)
	if err := reg.StartSync(context.Background(), []string{addrs.Kafka}, append([]kgo.Opt{kgo.Dialer(inProc)}, sec.saslOpts...)...); err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	closers.push(reg.StopSync)
	if opts.console, err = startConsole(b, addrs.Kafka, inProc, sec.saslOpts, logger, &closers); err != nil {
		return fmt.Errorf("console: %w", err)
	}

	tlsCfg, err := httpTLS(ctx, opts.HTTPTLS, logger)
	if err != nil {
		return fmt.Errorf("http tls: %w", err)
	}
	separateAdmin := opts.Admin.Addr != "" && opts.Admin.Addr != "off"
	if separateAdmin {
		if addrs.Admin, err = serveAdmin(reg, opts, tlsCfg, logger, &closers, serveErr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	if cfg.HTTPAddr != "off" {
		bcfg := opts.Bridge
		bcfg.Brokers, bcfg.Logger = []string{addrs.Kafka}, logger
		bcfg.Authorizer, bcfg.Dialer, bcfg.Pipeline = opts.Authorizer, inProc, pl
		bcfg.KafkaOpts = append(bcfg.KafkaOpts, sec.saslOpts...)
		if bcfg.MaxDecompressedBatchBytes == 0 {
			bcfg.MaxDecompressedBatchBytes = 2 * int(cfg.MaxMessageBytes)
		}
		bcfg.PasswordVerifier = opts.PasswordVerifier
		br, err := bridge.New(bcfg)
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		closers.push(br.Close)
		r := chi.NewRouter()
		// Prometheus metrics of every component (plugins register theirs
		// on the default registry).
		// A removed plugin's series stay until one scrape saw them.
		r.Handle("/metrics", plugins.MetricsHandler(promhttp.Handler()))
		br.Routes(r)
		hln, err := listenHTTP(cfg.HTTPAddr, tlsCfg)
		if err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		closers.pushListener(hln)
		if opts.Admin.Addr == "" {
			mountAdmin(r, reg, opts, hln, logger)
		}
		hs := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
		// The bridge sets its timeouts (slowloris guard) and ends SSE
		// streams at shutdown.
		br.ConfigureServer(hs)
		if opts.console != nil && opts.Admin.Addr == "" {
			hs.RegisterOnShutdown(opts.console.EndStreams)
		}
		closers.push(func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return hs.Close()
			}
			return nil
		})
		go func() {
			if err := hs.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
		addrs.HTTP = hln.Addr().String()
		logger.Info("http listener ready", "addr", addrs.HTTP, "tls", tlsCfg != nil)
	}
	if ready != nil {
		ready(addrs)
	}
	select {
	case <-ctx.Done():
		// Still serving (followers fetch, clients get NOT_LEADER and
		// retry elsewhere) while leadership moves away.
		if zk != nil {
			controlledShutdown(zk, cfg, logger)
		}
	case err = <-serveErr:
	}
	logger.Info("shutting down")
	return err
}

// setupAuthorizer builds the Kafka port's authorizer from opts: with
// "acl", an ACL authorizer that follows the store's bindings (reloaded on
// every change, cluster-wide for ZooKeeper) and serves the ACL APIs.
func setupAuthorizer(opts Options, store meta.Store, kcfg *kafka.Config, closers *closerStack) error {
	switch opts.AuthorizerKind {
	case "", "none":
		kcfg.Authorizer = auth.AllowAll{}
		return nil
	case "acl":
	default:
		return fmt.Errorf("unknown authorizer %q (want acl or none)", opts.AuthorizerKind)
	}
	st, ok := store.(meta.ACLStore)
	if !ok {
		return fmt.Errorf("the metadata store cannot keep ACLs")
	}
	if s, ok := st.(interface{ StartACLs() error }); ok {
		if err := s.StartACLs(); err != nil {
			return fmt.Errorf("ACLs: %w", err)
		}
	}
	a := acl.New(opts.SuperUsers)
	ctx, cancel := context.WithCancel(context.Background())
	a.Follow(ctx, st)
	closers.pushFunc(cancel)
	kcfg.Authorizer, kcfg.ACLs = a, st
	kcfg.Logger.Info("ACL authorizer on", "acls", len(a.Bindings()), "super_users", opts.SuperUsers)
	if len(a.Bindings()) == 0 && len(opts.SuperUsers) == 0 {
		kcfg.Logger.Warn("ACL authorizer with no ACLs and no super users: every request is denied; restart with --super-users to create the first ACLs")
	}
	return nil
}

// advertised picks the endpoint given to clients: the configured one, or
// the bound address (127.0.0.1 when bound to all interfaces).
func advertised(cfgAddr string, bound *net.TCPAddr) (string, int32, error) {
	if cfgAddr != "" {
		host, portStr, err := net.SplitHostPort(cfgAddr)
		if err != nil {
			return "", 0, fmt.Errorf("advertised address %q: %w", cfgAddr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port <= 0 || port > 65535 {
			return "", 0, fmt.Errorf("advertised address %q: bad port", cfgAddr)
		}
		return host, int32(port), nil
	}
	host := bound.IP.String()
	if bound.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return host, int32(bound.Port), nil
}
