// Package kafka serves the Kafka wire protocol over TCP. Requests and
// responses are decoded and encoded with franz-go's kmsg; each Kafka API is
// handled in its own file named after its key (NN_name.go), which states
// the versions it serves. Handlers translate requests into calls on the
// broker core and its partitions.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/pipeline"
)

// Config tunes the protocol server.
type Config struct {
	// MaxRequestBytes refuses larger requests before buffering them.
	MaxRequestBytes int32
	// MaxDecodedRequestBytes refuses a request whose decoded form would
	// take more memory (estimated before decoding; see decodebound.go).
	// Default DefaultMaxDecodedRequestBytes.
	MaxDecodedRequestBytes int64
	// DisableSendfile copies fetched data through user space instead of
	// sendfile(2); for debugging and comparison only.
	DisableSendfile bool
	// FetchSessionCacheSlots bounds the cached fetch sessions (KIP-227,
	// max.incremental.fetch.session.cache.slots); 0 means
	// DefaultFetchSessionCacheSlots, negative disables sessions.
	FetchSessionCacheSlots int
	// LeaderThrottle limits what this leader sends out-of-sync followers
	// of the replicas a topic's leader.replication.throttled.replicas
	// names (replication_throttle.go); nil: unlimited.
	LeaderThrottle *cluster.Throttle
	// FollowerThrottle is the replica fetchers' throttle, here so that
	// DescribeConfigs reports its static rate (broker_configs.go).
	FollowerThrottle *cluster.Throttle
	// Hooks gives topics' plugins; nil means none. Used only to build the
	// pipeline when Pipeline is nil.
	Hooks hooks.Registry
	// Pipeline runs produces and fetches through the topics' plugins
	// (the only caller of hooks); nil makes one from Hooks.
	Pipeline *pipeline.Pipeline
	// MaxConnections, MaxConnectionsPerIP: connections past these are
	// closed as soon as they are accepted (max.connections,
	// max.connections.per.ip). QueuedMaxRequestBytes bounds the bytes of
	// requests being read and handled across connections; readers wait
	// past it (queued.max.request.bytes). Defaults in limits.go.
	MaxConnections        int
	MaxConnectionsPerIP   int
	QueuedMaxRequestBytes int64
	// Authorizer decides every request's access; nil allows everything.
	Authorizer auth.Authorizer
	// Elector runs requested leader elections (ElectLeaders) in cluster
	// mode: the controller. Nil: a single node, which leads everything.
	Elector LeaderElector
	// OnTopicDeleted, when set, is called after DeleteTopics deleted a
	// topic, before the response is sent (the plugin registry unbinds the
	// topic's plugins), so storage and metadata stay free of plugins.
	OnTopicDeleted func(ctx context.Context, topic string)

	// TLS, when non-nil, serves every connection over TLS (SSL, SASL_SSL);
	// with ClientAuth set it is mutual TLS (security.go).
	TLS *tls.Config
	// SASL, when non-nil, requires SASL authentication (security.go).
	SASL *SASLConfig
	// Credentials backs DescribeUserScramCredentials and
	// AlterUserScramCredentials; nil answers them with errors.
	Credentials meta.CredentialStore
	// ACLs is where CreateAcls/DeleteAcls/DescribeAcls keep bindings; nil
	// (no ACL authorizer) answers them SECURITY_DISABLED, as Kafka does.
	ACLs   meta.ACLStore
	Logger *slog.Logger
}

// Server is the Kafka protocol listener.
type Server struct {
	b      *broker.Broker
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup

	ctx    context.Context // cancelled on Close: ends long polls
	cancel context.CancelFunc

	// testPrincipal, set only by tests, names a connection's principal
	// (before SASL exists on this branch); see registry.go.
	testPrincipal func(net.Conn) auth.Principal
	perIP         map[string]int // open connections per client IP; guarded by mu
	reqMem        *memBudget     // queued.max.request.bytes
	fetchSessions *fetchSessionCache
	txn           atomic.Pointer[Transactions] // StartTransactions (txn.go)

	refusedLog logThrottle // refused connections (limits.go)
	unackedLog logThrottle // produces appended but answered with an error (00_produce.go)

	markers txnMarkers // transaction markers (txnmarkers.go)
}

// New creates a server for b.
func New(b *broker.Broker, cfg Config) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.MaxDecodedRequestBytes <= 0 {
		cfg.MaxDecodedRequestBytes = DefaultMaxDecodedRequestBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if cfg.QueuedMaxRequestBytes <= 0 {
		cfg.QueuedMaxRequestBytes = DefaultQueuedMaxRequestBytes
	}
	if cfg.Hooks == nil {
		cfg.Hooks = hooks.None{}
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = auth.AllowAll{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Pipeline == nil {
		cfg.Pipeline = pipeline.New(pipeline.Config{Broker: b, Hooks: cfg.Hooks, Logger: cfg.Logger, InternalTopic: IsInternalTopic})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{b: b, cfg: cfg, logger: cfg.Logger, conns: map[*conn]struct{}{}, ctx: ctx, cancel: cancel,
		perIP: map[string]int{}, reqMem: newMemBudget(cfg.QueuedMaxRequestBytes),
		fetchSessions: newFetchSessionCache(cfg.FetchSessionCacheSlots)}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	ln = s.countConns(ln) // connection metrics (metrics.go)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.ln = ln
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Temporary errors (EMFILE...) must not kill the listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if s.cfg.TLS != nil {
			nc = tls.Server(nc, s.cfg.TLS)
		}
		c := newConn(s, nc)
		ip := remoteIP(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		if ok, limit := s.admitLocked(ip); !ok {
			s.mu.Unlock()
			nc.Close()
			s.logRefusal(ip, limit)
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.forgetLocked(ip)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, ends long polls, closes connections and waits for
// their goroutines.
func (s *Server) Close() error {
	if t := s.txn.Load(); t != nil {
		t.Close() // stops marker writers before their connections go
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.cancel()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.closeMarkers()
	return nil
}
