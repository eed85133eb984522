package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// startSASLBroker runs an in-process broker whose listener requires SASL,
// with user "admin" (password "admin-pw", SCRAM-SHA-256 and -512).
func startSASLBroker(t *testing.T, reauth time.Duration) (addr string, store *meta.Local, logs *lockedBuf) {
	t.Helper()
	dir := t.TempDir()
	logs = &lockedBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	b, err := localbroker.Open(broker.Config{DataDir: dir, Logger: logger, OffsetsTopicPartitions: 1, GroupInitialRebalanceDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	store, err = meta.OpenLocal(t.TempDir(), meta.Broker{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range auth.ScramMechanisms {
		c, _ := m.NewCredential("admin-pw", 4096)
		if err := store.PutScramCredential("admin", m.Name, c); err != nil {
			t.Fatal(err)
		}
	}
	ln := listenAdvertised(t, b)
	s := New(b, Config{Logger: logger, Credentials: store, SASL: &SASLConfig{
		Mechanisms:  []string{MechPLAIN, MechScramSHA256, MechScramSHA512},
		Credentials: store,
		Reauth:      reauth,
	}})
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		b.Close()
	})
	return ln.Addr().String(), store, logs
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func scramOpt(mech, user, pass string) kgo.Opt {
	a := scram.Auth{User: user, Pass: pass}
	if mech == MechScramSHA256 {
		return kgo.SASL(a.AsSha256Mechanism())
	}
	if mech == MechPLAIN {
		return kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())
	}
	return kgo.SASL(a.AsSha512Mechanism())
}

func TestSASLMechanismsProduceConsume(t *testing.T) {
	addr, _, logs := startSASLBroker(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mech := range []string{MechPLAIN, MechScramSHA256, MechScramSHA512} {
		topic := "t-" + strings.ToLower(mech)
		cl := mustClient(t, kgo.SeedBrokers(addr), scramOpt(mech, "admin", "admin-pw"), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
		for i := range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
				t.Fatalf("%s produce: %v", mech, err)
			}
		}
		cons := mustClient(t, kgo.SeedBrokers(addr), scramOpt(mech, "admin", "admin-pw"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []string
		for len(got) < 5 {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s fetch: %v", mech, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if strings.Join(got, "") != "abcde" {
			t.Fatalf("%s consumed %q", mech, got)
		}
	}
	if !strings.Contains(logs.String(), "principal=User:admin mechanism=SCRAM-SHA-512") {
		t.Fatalf("no authentication log for User:admin")
	}
}

func TestSASLRefusals(t *testing.T) {
	addr, _, _ := startSASLBroker(t, 0)
	cases := []struct {
		name string
		opt  kgo.Opt
		want error
	}{
		{"wrong password scram", scramOpt(MechScramSHA512, "admin", "nope"), kerr.SaslAuthenticationFailed},
		{"wrong password plain", scramOpt(MechPLAIN, "admin", "nope"), kerr.SaslAuthenticationFailed},
		{"unknown user", scramOpt(MechScramSHA256, "ghost", "admin-pw"), kerr.SaslAuthenticationFailed},
		{"no sasl", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			cl := mustClient(t, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err == nil {
				t.Fatal("metadata succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) send(req kmsg.Request, version int16) {
	req.SetVersion(version)
	body := []byte{0, 0, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(version))
	body = binary.BigEndian.AppendUint32(body, 7)
	body = append(body, 0, 1, 'x') // client id "x"
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	if _, err := r.nc.Write(body); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) sendRaw(token []byte) {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(token)))
	if _, err := r.nc.Write(append(b, token...)); err != nil {
		r.t.Fatal(err)
	}
}

// frame reads one size-prefixed frame; err is io.EOF when the broker
// closed the connection.
func (r *rawConn) frame() ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(sz[:]))
	_, err := io.ReadFull(r.br, b)
	return b, err
}

func (r *rawConn) resp(resp kmsg.Response, version int16) {
	b, err := r.frame()
	if err != nil {
		r.t.Fatalf("reading %T: %v", resp, err)
	}
	resp.SetVersion(version)
	skip := 4
	if resp.IsFlexible() && resp.Key() != 18 {
		skip++
	}
	if err := resp.ReadFrom(b[skip:]); err != nil {
		r.t.Fatalf("decode %T: %v", resp, err)
	}
}

func (r *rawConn) expectClosed() {
	r.t.Helper()
	if _, err := r.frame(); !errors.Is(err, io.EOF) {
		r.t.Fatalf("connection not closed: %v", err)
	}
}

func TestSASLPreAuthGate(t *testing.T) {
	addr, _, _ := startSASLBroker(t, 0)
	// ApiVersions is served, Metadata closes the connection.
	r := dialRaw(t, addr)
	r.send(kmsg.NewPtrApiVersionsRequest(), 3)
	av := kmsg.NewPtrApiVersionsResponse()
	r.resp(av, 3)
	if av.ErrorCode != 0 || len(av.ApiKeys) == 0 {
		t.Fatalf("ApiVersions = %+v", av)
	}
	r.send(kmsg.NewPtrMetadataRequest(), 4)
	r.expectClosed()

	// A large pre-auth frame is refused before it is read.
	r = dialRaw(t, addr)
	r.nc.Write([]byte{0, 2, 0, 0}) // 128 KiB
	r.expectClosed()

	// SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE, closed.
	r = dialRaw(t, addr)
	r.send(&kmsg.SASLAuthenticateRequest{SASLAuthBytes: []byte("\x00admin\x00admin-pw")}, 1)
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	r.resp(ar, 1)
	if ar.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate before handshake: code %d", ar.ErrorCode)
	}
	r.expectClosed()

	// A wrong password: SASL_AUTHENTICATION_FAILED, closed.
	r = dialRaw(t, addr)
	r.send(&kmsg.SASLHandshakeRequest{Mechanism: MechPLAIN}, 1)
	r.resp(kmsg.NewPtrSASLHandshakeResponse(), 1)
	r.send(&kmsg.SASLAuthenticateRequest{SASLAuthBytes: []byte("\x00admin\x00wrong")}, 2)
	ar = kmsg.NewPtrSASLAuthenticateResponse()
	r.resp(ar, 2)
	if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != "Authentication failed: invalid credentials with SASL mechanism PLAIN" {
		t.Fatalf("wrong password: %+v", ar)
	}
	r.expectClosed()

	// Unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the list, closed.
	r = dialRaw(t, addr)
	r.send(&kmsg.SASLHandshakeRequest{Mechanism: "GSSAPI"}, 1)
	hr := kmsg.NewPtrSASLHandshakeResponse()
	r.resp(hr, 1)
	if hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(hr.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
		t.Fatalf("handshake GSSAPI = %+v", hr)
	}
	r.expectClosed()
}

// TestSASLHandshakeV0RawTokens: after a v0 handshake, PLAIN goes as a bare
// token and the broker answers with a bare (empty) token.
func TestSASLHandshakeV0RawTokens(t *testing.T) {
	addr, _, _ := startSASLBroker(t, 0)
	r := dialRaw(t, addr)
	r.send(&kmsg.SASLHandshakeRequest{Mechanism: MechPLAIN}, 0)
	hr := kmsg.NewPtrSASLHandshakeResponse()
	r.resp(hr, 0)
	if hr.ErrorCode != 0 {
		t.Fatalf("handshake v0: code %d", hr.ErrorCode)
	}
	r.sendRaw([]byte("\x00admin\x00admin-pw"))
	tok, err := r.frame()
	if err != nil || len(tok) != 0 {
		t.Fatalf("raw PLAIN answer %q, %v", tok, err)
	}
	r.send(kmsg.NewPtrMetadataRequest(), 4)
	mr := kmsg.NewPtrMetadataResponse()
	r.resp(mr, 4)
	if len(mr.Brokers) != 1 {
		t.Fatalf("metadata after raw auth = %+v", mr)
	}

	// A wrong raw password closes the connection.
	r = dialRaw(t, addr)
	r.send(&kmsg.SASLHandshakeRequest{Mechanism: MechPLAIN}, 0)
	r.resp(kmsg.NewPtrSASLHandshakeResponse(), 0)
	r.sendRaw([]byte("\x00admin\x00wrong"))
	r.expectClosed()
}

// TestSASLReauthentication: with a 2s session lifetime kgo re-authenticates
// on its own and keeps working; a raw client that does not gets its
// connection closed on its next request after expiry.
func TestSASLReauthentication(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	addr, _, logs := startSASLBroker(t, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := mustClient(t, kgo.SeedBrokers(addr), scramOpt(MechScramSHA512, "admin", "admin-pw"), kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	for i := range 6 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		time.Sleep(800 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "expired without re-authentication") {
		t.Fatal("kgo's connection was closed for expiry")
	}
	if !strings.Contains(logs.String(), "SASL re-authenticated") {
		t.Fatal("kgo did not re-authenticate")
	}
	off, err := kadm.NewClient(cl).ListEndOffsets(ctx, "reauth")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := off.Lookup("reauth", 0); o.Offset != 6 {
		t.Fatalf("end offset %d, want 6", o.Offset)
	}

	// A hand-driven client that authenticates (v1) and then idles past
	// the lifetime is closed on its next request.
	r := dialRaw(t, addr)
	r.send(&kmsg.SASLHandshakeRequest{Mechanism: MechPLAIN}, 1)
	r.resp(kmsg.NewPtrSASLHandshakeResponse(), 1)
	r.send(&kmsg.SASLAuthenticateRequest{SASLAuthBytes: []byte("\x00admin\x00admin-pw")}, 1)
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	r.resp(ar, 1)
	if ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 2000 {
		t.Fatalf("authenticate = code %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
	}
	time.Sleep(2200 * time.Millisecond)
	r.send(kmsg.NewPtrMetadataRequest(), 4)
	r.expectClosed()
}

// TestScramCredentialAPIs: kadm creates, describes, uses and deletes users.
func TestScramCredentialAPIs(t *testing.T) {
	addr, store, _ := startSASLBroker(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admCl := mustClient(t, kgo.SeedBrokers(addr), scramOpt(MechScramSHA512, "admin", "admin-pw"))
	adm := kadm.NewClient(admCl)
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if altered["bob"].Err != nil {
		t.Fatalf("altered = %+v", altered)
	}
	// The broker's own checks (kadm validates iterations client-side, so
	// send the request by hand).
	raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	raw.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		{Name: "carol", Mechanism: 2, Iterations: 100, Salt: []byte("s"), SaltedPassword: []byte("p")},
		{Name: "dave", Mechanism: 9, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("p")},
		{Name: "", Mechanism: 2, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("p")},
	}
	raw.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "erin", Mechanism: 1}, {Name: "erin", Mechanism: 1}}
	rr, err := raw.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range rr.Results {
		codes[r.User] = r.ErrorCode
	}
	if len(codes) != 4 || codes["carol"] != kerr.UnacceptableCredential.Code || codes["dave"] != kerr.UnsupportedSaslMechanism.Code ||
		codes[""] != kerr.UnacceptableCredential.Code || codes["erin"] != kerr.DuplicateResource.Code {
		t.Fatalf("alter errors = %v", codes)
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(described) != 2 || len(described["admin"].CredInfos) != 2 || len(described["bob"].CredInfos) != 1 ||
		described["bob"].CredInfos[0].Mechanism != kadm.ScramSha256 || described["bob"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("described = %+v", described)
	}
	one, err := adm.DescribeUserSCRAMs(ctx, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(one["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody = %+v", one)
	}
	// bob can log in with SCRAM-SHA-256 (and PLAIN), not SCRAM-SHA-512.
	bob := mustClient(t, kgo.SeedBrokers(addr), scramOpt(MechScramSHA256, "bob", "bob-pw"))
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob: %v", err)
	}
	bob512 := mustClient(t, kgo.SeedBrokers(addr), scramOpt(MechScramSHA512, "bob", "bob-pw"), kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, bob512); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob SCRAM-SHA-512: %v", err)
	}
	del, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}, {User: "zed", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if del["bob"].Err != nil || !errors.Is(del["zed"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete = %+v", del)
	}
	if users, _ := store.Users(); len(users) != 1 || users[0].Name != "admin" {
		t.Fatalf("users left: %+v", users)
	}
}
