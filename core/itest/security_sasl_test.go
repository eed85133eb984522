package itest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/internal/needs"
)

const (
	adminUser = "admin"
	adminPass = "admin-secret-pw"
)

// secureBroker starts a broker with protocol, the bootstrap user admin and
// (for TLS) the PKI's server certificate; the harness's own clients log in
// as admin with SCRAM-SHA-512.
func secureBroker(t *testing.T, protocol string, pki *testPKI, extra ...string) *broker {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pwFile, []byte(adminPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--kafka-security-protocol", protocol, "--bootstrap-user", adminUser, "--bootstrap-password-file", pwFile}
	var opts []kgo.Opt
	if strings.HasPrefix(protocol, "SASL_") {
		opts = append(opts, saslOpt("SCRAM-SHA-512", adminUser, adminPass))
	}
	if strings.HasSuffix(protocol, "SSL") {
		args = append(args, "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey)
		opts = append(opts, kgo.DialTLSConfig(pki.ClientTLS("", "")))
	}
	return startBroker(t, brokerOptions{ExtraArgs: append(args, extra...), ClientOpts: opts})
}

func saslMech(mech, user, pass string) sasl.Mechanism {
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
}

func saslOpt(mech, user, pass string) kgo.Opt { return kgo.SASL(saslMech(mech, user, pass)) }

// ownClient is a kgo client for b with only opts (not the harness's own
// login), closed when the test ends.
func ownClient(t *testing.T, b *broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// logHas reports whether one line of the broker's log contains every part.
func logHas(b *broker, parts ...string) bool {
	for _, line := range strings.Split(b.stderr.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// roundTrip produces n 1 KiB records and reads them back with clients made
// of opts only, checking every key, value and offset.
func roundTrip(ctx context.Context, t *testing.T, b *broker, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	prod := ownClient(t, b, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)...)
	pad := strings.Repeat("x", 1000)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k%05d", i)), Value: []byte(fmt.Sprintf("v%05d-%s", i, pad))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	cons := ownClient(t, b, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("k%05d", got); string(r.Key) != want || r.Offset != int64(got) || string(r.Value) != fmt.Sprintf("v%05d-%s", got, pad) {
				t.Fatalf("record %d: key %q offset %d, want %q", got, r.Key, r.Offset, want)
			}
			got++
		})
	}
	if end := endOffsets(ctx, t, newAdmin(t, b), topic)[0]; end != int64(n) {
		t.Fatalf("%s end offset %d, want %d", topic, end, n)
	}
}

// TestSecuritySCRAMOverTLS: on SASL_SSL, kadm creates a user with both
// SCRAM mechanisms and describes the users; that user produces and
// consumes 1 KiB records exactly with SCRAM-SHA-256 and -512 (fetches go
// through TLS, not sendfile).
func TestSecuritySCRAMOverTLS(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	pki := newTestPKI(t)
	b := secureBroker(t, "SASL_SSL", pki)
	adm := newAdmin(t, b)
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"},
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-pw"},
	})
	if err != nil || altered.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, altered.Error())
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(described) != 3 || len(described[adminUser].CredInfos) != 2 ||
		len(described["bob"].CredInfos) != 1 || described["bob"].CredInfos[0].Mechanism != kadm.ScramSha256 ||
		len(described["carol"].CredInfos) != 1 || described["carol"].CredInfos[0].Iterations != 8192 {
		t.Fatalf("DescribeUserSCRAMs = %+v", described)
	}
	tlsOpt := kgo.DialTLSConfig(pki.ClientTLS("", ""))
	for _, c := range []struct{ mech, user, pass string }{{"SCRAM-SHA-256", "bob", "bob-pw"}, {"SCRAM-SHA-512", "carol", "carol-pw"}} {
		createTopic(ctx, t, adm, "tls-"+strings.ToLower(c.mech), 1, nil)
		roundTrip(ctx, t, b, "tls-"+strings.ToLower(c.mech), 2000, tlsOpt, saslOpt(c.mech, c.user, c.pass))
	}
	for _, who := range []string{"principal=User:bob mechanism=SCRAM-SHA-256", "principal=User:carol mechanism=SCRAM-SHA-512"} {
		if !logHas(b, `msg="SASL authenticated"`, who) {
			t.Fatalf("broker log has no authentication %s", who)
		}
	}
}

// TestSecurityPlainOverSASLPlaintext: PLAIN on a SASL_PLAINTEXT listener.
func TestSecurityPlainOverSASLPlaintext(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	b := secureBroker(t, "SASL_PLAINTEXT", nil, "--sasl-mechanisms", "PLAIN,SCRAM-SHA-512")
	createTopic(ctx, t, newAdmin(t, b), "plain", 1, nil)
	roundTrip(ctx, t, b, "plain", 500, saslOpt("PLAIN", adminUser, adminPass))
	if !logHas(b, `msg="SASL authenticated"`, "principal=User:admin mechanism=PLAIN") {
		t.Fatal("no PLAIN authentication in the broker log")
	}
}

// TestSecurityKcatSASLSSL: librdkafka with security.protocol=SASL_SSL and
// SCRAM-SHA-512 produces and consumes.
func TestSecurityKcatSASLSSL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	pki := newTestPKI(t)
	b := secureBroker(t, "SASL_SSL", pki)
	createTopic(ctx, t, newAdmin(t, b), "kcat-scram", 1, nil)
	sec := []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=" + adminUser, "-X", "sasl.password=" + adminPass, "-X", "ssl.ca.location=" + pki.CAFile}
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "k%02d:v%02d\n", i, i)
	}
	_, stderr := runKcat(ctx, t, in.String(), append([]string{"-P", "-b", b.Addr(), "-t", "kcat-scram", "-K:"}, sec...)...)
	if end := endOffsets(ctx, t, newAdmin(t, b), "kcat-scram")[0]; end != 50 {
		t.Fatalf("end offset after kcat -P: %d, want 50 (kcat stderr: %s)", end, stderr)
	}
	out, stderr := runKcat(ctx, t, "", append([]string{"-C", "-b", b.Addr(), "-t", "kcat-scram", "-o", "beginning", "-e", "-K:"}, sec...)...)
	if out != in.String() {
		t.Fatalf("kcat -C printed %q, want %q (stderr: %s)", out, in.String(), stderr)
	}
	// Wrong password: nothing is read, the failure is reported.
	bad := append([]string{}, sec...)
	bad[7] = "sasl.password=wrong"
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(kctx, needs.Kcat(t), append([]string{"-C", "-b", b.Addr(), "-t", "kcat-scram", "-o", "beginning", "-e", "-K:", "-m", "5"}, bad...)...)
	var bout, berr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &bout, &berr
	if err := cmd.Run(); err == nil || bout.Len() != 0 || !strings.Contains(berr.String(), "Authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-512") {
		t.Fatalf("wrong password: kcat exit %v, printed %q, stderr %s", err, bout.String(), berr.String())
	}
}

// TestSecurityKafkaPythonSCRAM: kafka-python (v0 handshake, bare SASL
// tokens) with SCRAM-SHA-512 over TLS.
func TestSecurityKafkaPythonSCRAM(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	pki := newTestPKI(t)
	b := secureBroker(t, "SASL_SSL", pki)
	const topic, n = "python-scram", 100
	createTopic(ctx, t, newAdmin(t, b), topic, 1, nil)
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, needs.Python(t), "testdata/kafka_python_roundtrip.py", b.Addr(), topic, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "SLUICE_PY_SECURITY_PROTOCOL=SASL_SSL", "SLUICE_PY_SASL_MECHANISM=SCRAM-SHA-512",
		"SLUICE_PY_USER="+adminUser, "SLUICE_PY_PASSWORD="+adminPass, "SLUICE_PY_CAFILE="+pki.CAFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-python: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var got pythonRoundTrip
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("decode script output: %v\n%s", err, stdout.String())
	}
	if len(got.Produced) != n || len(got.Consumed) != n {
		t.Fatalf("produced %d, consumed %d, want %d", len(got.Produced), len(got.Consumed), n)
	}
	for i, c := range got.Consumed {
		if c.Offset != int64(i) || c.Key != fmt.Sprintf("key-%03d", i) || c.Value != fmt.Sprintf("value-%03d", i) {
			t.Fatalf("consumed %d: %+v", i, c)
		}
	}
	// kafka-python 2.0 speaks SASL after a v0 handshake: bare tokens.
	if !logHas(b, `msg="SASL authenticated"`, "principal=User:admin mechanism=SCRAM-SHA-512 bare_tokens=true") {
		t.Fatal("no bare-token SCRAM authentication of kafka-python in the broker log")
	}
}

// saramaSCRAM adapts franz-go's SCRAM client to sarama's SCRAMClient.
type saramaSCRAM struct {
	mech  sasl.Mechanism
	sess  sasl.Session
	first []byte
	done  bool
}

func (s *saramaSCRAM) Begin(user, pass, _ string) error {
	s.mech = saslMech("SCRAM-SHA-512", user, pass)
	var err error
	s.sess, s.first, err = s.mech.Authenticate(context.Background(), "")
	return err
}

func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.first != nil {
		first := s.first
		s.first = nil
		return string(first), nil
	}
	done, next, err := s.sess.Challenge([]byte(challenge))
	s.done = done
	return string(next), err
}

func (s *saramaSCRAM) Done() bool { return s.done }

// TestSecuritySaramaSCRAM: sarama with SCRAM-SHA-512 over TLS.
func TestSecuritySaramaSCRAM(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	pki := newTestPKI(t)
	b := secureBroker(t, "SASL_SSL", pki)
	const topic, n = "sarama-scram", 100
	createTopic(ctx, t, newAdmin(t, b), topic, 1, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.MaxVersion
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, pki.ClientTLS("", "")
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = adminUser, adminPass
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{} }
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	prod, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	for i := range n {
		if _, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("m%03d", i))}); err != nil || off != int64(i) {
			t.Fatalf("send %d: offset %d, %v", i, off, err)
		}
	}
	prod.Close()
	cons, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	msgs := consumeSaramaPartition(ctx, t, cons, topic, 0, n)
	for i, m := range msgs {
		if string(m.Value) != fmt.Sprintf("m%03d", i) {
			t.Fatalf("message %d = %q", i, m.Value)
		}
	}
}

// TestSecurityMTLSPrincipal: on SSL with --tls-client-ca the principal is
// User:<CN of the client certificate>; a client without a certificate is
// refused in the handshake.
func TestSecurityMTLSPrincipal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	pki := newTestPKI(t)
	adminCert, adminKey := pki.Issue("itest-admin", false, "admin")
	aliceCert, aliceKey := pki.Issue("alice", false, "alice")
	b := startBroker(t, brokerOptions{
		ExtraArgs: []string{"--kafka-security-protocol", "SSL", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey,
			"--tls-client-ca", pki.CAFile},
		ClientOpts: []kgo.Opt{kgo.DialTLSConfig(pki.ClientTLS(adminCert, adminKey))},
	})
	createTopic(ctx, t, newAdmin(t, b), "mtls", 1, nil)
	roundTrip(ctx, t, b, "mtls", 200, kgo.DialTLSConfig(pki.ClientTLS(aliceCert, aliceKey)))
	if !logHas(b, `msg="TLS client authenticated"`, "principal=User:alice") {
		t.Fatal("broker did not log principal User:alice")
	}
	// No client certificate: refused.
	anon := ownClient(t, b, kgo.DialTLSConfig(pki.ClientTLS("", "")), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, anon); err == nil {
		t.Fatal("a client without a certificate got metadata")
	}
}

// TestSecurityRefusals: bad credentials, a mechanism that is not enabled,
// no SASL, and a plaintext client on the TLS port are all refused with the
// right error and produce nothing.
func TestSecurityRefusals(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	pki := newTestPKI(t)
	b := secureBroker(t, "SASL_SSL", pki) // SCRAM only (the default)
	tlsOpt := kgo.DialTLSConfig(pki.ClientTLS("", ""))
	cases := []struct {
		name string
		opts []kgo.Opt
		want error // nil: any error
	}{
		{"wrong password", []kgo.Opt{tlsOpt, saslOpt("SCRAM-SHA-512", adminUser, "wrong")}, kerr.SaslAuthenticationFailed},
		{"unknown user", []kgo.Opt{tlsOpt, saslOpt("SCRAM-SHA-256", "mallory", adminPass)}, kerr.SaslAuthenticationFailed},
		{"mechanism not enabled", []kgo.Opt{tlsOpt, saslOpt("PLAIN", adminUser, adminPass)}, kerr.UnsupportedSaslMechanism},
		{"no SASL", []kgo.Opt{tlsOpt}, nil},
		{"plaintext on the TLS port", nil, nil},
	}
	// The refused clients run side by side (each waits out its 3 s
	// delivery timeout), in goroutines of this test rather than parallel
	// subtests: those would wait for a free -parallel slot behind the
	// package's other tests.
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Go(func() {
			opts := append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second),
				kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("refused"), kgo.RecordDeliveryTimeout(3 * time.Second)}, c.opts...)
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				return
			}
			defer cl.Close()
			_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s: metadata: err = %v, want %v", c.name, err, c.want)
				return
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
				t.Errorf("%s: produce succeeded", c.name)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// A raw Kafka request on the TLS port gets no Kafka answer and the
	// connection is closed.
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	frame := append([]byte{0, 0, 0, 0}, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff)
	frame = req.AppendTo(frame)
	frame[3] = byte(len(frame) - 4)
	nc.Write(frame)
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("plaintext on the TLS port: connection not closed: %v", err)
	}
	if len(got) >= 8 && got[4] == 0 && got[5] == 0 && got[6] == 0 && got[7] == 7 {
		t.Fatalf("plaintext on the TLS port got a Kafka answer: %x", got)
	}
	topics, err := newAdmin(t, b).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("refused") {
		t.Fatal("a refused client created topic \"refused\"")
	}
	logs := b.stderr.String()
	for _, want := range []string{"TLS handshake failed", "SASL authentication failed", "SASL handshake refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("broker log lacks %q", want)
		}
	}
}

// TestSecurityBootstrapUserKept: the bootstrap user is created once; a
// restart with another password in the file leaves the stored one.
func TestSecurityBootstrapUserKept(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	b := secureBroker(t, "SASL_PLAINTEXT", nil)
	pwArg := -1
	for i, a := range b.opts.ExtraArgs {
		if a == "--bootstrap-password-file" {
			pwArg = i + 1
		}
	}
	if err := os.WriteFile(b.opts.ExtraArgs[pwArg], []byte("another-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart() // the harness still logs in with adminPass
	if !strings.Contains(b.stderr.String(), "bootstrap user already has credentials") {
		t.Fatal("restart did not keep the bootstrap user")
	}
	cl := ownClient(t, b, saslOpt("SCRAM-SHA-512", adminUser, "another-password"), kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("new file password: %v", err)
	}
}

// TestSecurityTLSCertificateReload: a renewed certificate is served
// without a restart once its files change, and SIGHUP reloads on demand.
func TestSecurityTLSCertificateReload(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	pki := newTestPKI(t)
	b := startBroker(t, brokerOptions{
		ExtraArgs:  []string{"--kafka-security-protocol", "SSL", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey},
		ClientOpts: []kgo.Opt{kgo.DialTLSConfig(pki.ClientTLS("", ""))},
	})
	served := func() string {
		c, err := tls.Dial("tcp", b.Addr(), pki.ClientTLS("", ""))
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := served()
	// Renew in place (same file names), as certbot or cert-manager would.
	renewed, renewedKey := pki.Issue("sluice-broker", true, "renewed")
	for _, mv := range [][2]string{{renewedKey, pki.ServerKey}, {renewed, pki.ServerCert}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for served() == first {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Clients keep working on the new certificate.
	if err := newClient(t, b).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload announces itself and then logs the load: wait for both
	// (reading between the two lines counted 2 loads in a CI run).
	loads := func() int { return strings.Count(b.stderr.String(), `msg="TLS certificate loaded"`) }
	for !logHas(b, "SIGHUP: reloading the TLS certificate") || loads() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: reload logged %v, certificate loaded %d times, want 3 (start, change, SIGHUP)",
				logHas(b, "SIGHUP: reloading the TLS certificate"), loads())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := loads(); n != 3 {
		t.Fatalf("certificate loaded %d times, want 3 (start, change, SIGHUP)", n)
	}
}

// TestSecurityFranzGoSCRAMTests runs franz-go's own SCRAM tests
// (KGO_TEST_SCRAM_SEEDS) against a SASL_SSL Sluice, once per mechanism.
func TestSecurityFranzGoSCRAMTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs franz-go's kgo tests")
	}
	t.Parallel()
	ctx := testContext(t, 300*time.Second)
	plainBroker := startBroker(t, brokerOptions{})
	b := secureBroker(t, "SASL_PLAINTEXT", nil)
	for _, alg := range []string{"256", "512"} {
		cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run", "^(TestSCRAMAuth|TestSCRAMAuthBadCredentials)$", "github.com/twmb/franz-go/pkg/kgo")
		cmd.Env = append(os.Environ(), "KGO_SEEDS="+plainBroker.Addr(), "KGO_TEST_SCRAM_SEEDS="+b.Addr(), "KGO_TEST_SCRAM="+adminUser+":"+adminPass+":"+alg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("franz-go SCRAM-SHA-%s tests: %v\n%s", alg, err, out)
		}
		for _, want := range []string{"--- PASS: TestSCRAMAuth ", "--- PASS: TestSCRAMAuthBadCredentials "} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("franz-go SCRAM-SHA-%s: no %q in:\n%s", alg, want, out)
			}
		}
	}
	if !logHas(b, `msg="SASL authenticated"`, "principal=User:admin mechanism=SCRAM-SHA-256") {
		t.Fatal("franz-go's SCRAM-SHA-256 login is not in the broker log")
	}
}
