package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/testkit"
)

// consumeFigures is a finished phase moving 1M records in secs, so rates
// and ratios come out exact.
func consumeFigures(secs float64) phaseFigures {
	return phaseFigures{ok: true, records: 1_000_000, bytes: 1_000_000_000, elapsed: time.Duration(secs * float64(time.Second)), runs: 1}
}

func TestTLSRatioLinePassAndMiss(t *testing.T) {
	plain, enc := consumeFigures(1), consumeFigures(1.25) // 0.80x
	slow := consumeFigures(2)                             // 0.50x
	got := tlsRatioLine(plain, enc, plain, slow)
	want := "SASL_SSL/PLAINTEXT records/s: produce 0.80x [target >= 0.6x: PASS]; consume 0.50x [target >= 0.6x: MISS]"
	if got != want {
		t.Fatalf("ratio line\n got %q\nwant %q", got, want)
	}
	got = tlsRatioLine(plain, phaseFigures{}, plain, enc)
	want = "SASL_SSL/PLAINTEXT records/s: produce n/a; consume 0.80x [target >= 0.6x: PASS]"
	if got != want {
		t.Fatalf("ratio line with a failed phase\n got %q\nwant %q", got, want)
	}
}

func TestSendfileLineSplitsTheTLSCost(t *testing.T) {
	const prefix = "sendfile (lost over TLS: fetched data is copied through user space, core/kafka/sendfile.go): "
	plain := consumeCost{ok: true, rate: 1000, cpuPerGB: 0.5}
	noSendfile := consumeCost{ok: true, rate: 800, cpuPerGB: 0.7} // 0.80x
	enc := consumeCost{ok: true, rate: 500, cpuPerGB: 1.5}        // 0.50x
	for _, tc := range []struct {
		name             string
		plain, copy, enc consumeCost
		note, wantSuffix string
	}{
		{"split", plain, noSendfile, enc, "",
			"consume records/s vs PLAINTEXT: SASL_SSL 0.50x, no-sendfile 0.80x: losing sendfile is 20 of the 50 points TLS loses (40%); " +
				"broker CPU s/GB consumed: sendfile 0.50, no-sendfile 0.70, SASL_SSL 1.50: copying is +0.20 of TLS's +1.00 (20%)"},
		// Noise on a loaded machine: TLS measured faster than plaintext,
		// or the copy slower than TLS. No share of such figures is given.
		{"no TLS loss", plain, noSendfile, consumeCost{ok: true, rate: 1100, cpuPerGB: 0.4}, "",
			"consume records/s vs PLAINTEXT: SASL_SSL 1.10x, no-sendfile 0.80x; broker CPU s/GB consumed: sendfile 0.50, no-sendfile 0.70, SASL_SSL 0.40"},
		{"part above whole", plain, consumeCost{ok: true, rate: 400, cpuPerGB: 1.6}, enc, "",
			"consume records/s vs PLAINTEXT: SASL_SSL 0.50x, no-sendfile 0.40x; broker CPU s/GB consumed: sendfile 0.50, no-sendfile 1.60, SASL_SSL 1.50"},
		{"old binary", plain, consumeCost{}, enc, errNoDisableSendfile.Error(),
			"consume records/s vs PLAINTEXT: SASL_SSL 0.50x; broker CPU s/GB consumed: sendfile 0.50, SASL_SSL 1.50; sendfile's share n/a (this sluice binary has no --disable-sendfile flag)"},
		{"copy run failed", plain, consumeCost{}, enc, "",
			"consume records/s vs PLAINTEXT: SASL_SSL 0.50x; broker CPU s/GB consumed: sendfile 0.50, SASL_SSL 1.50; sendfile's share n/a (the no-sendfile runs failed)"},
		{"TLS run failed", plain, noSendfile, consumeCost{}, "", "n/a"},
	} {
		if got := sendfileLine(tc.plain, tc.copy, tc.enc, tc.note); got != prefix+tc.wantSuffix {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, prefix+tc.wantSuffix)
		}
	}
}

func TestConsumeCostTakesTheMedianCPUPerGBOverRuns(t *testing.T) {
	// finishedRun consumes 100,000 bytes with 1 s of CPU (10,000 s/GB);
	// the runs' CPU is 1 s, 3 s and 2 s, and the second consume failed.
	runs := []brokerRun{
		finishedRun("sluice", 1, 1, 1),
		finishedRun("sluice", 1, 2, 1),
		finishedRun("sluice", 1, 4, 1),
	}
	runs[1].consumeUsage.cpu = 3 * time.Second
	runs[2].consumeUsage.cpu = 2 * time.Second
	r := &tlsReport{listeners: []brokerRuns{{broker: listenerPlain, runs: runs}}}
	got := r.consumeCost(listenerPlain)
	// Rate: the median of 1000, 500 and 250 records/s. CPU: median of 10k, 30k, 20k s/GB.
	if want := (consumeCost{ok: true, rate: 500, cpuPerGB: 20_000}); got != want {
		t.Fatalf("consumeCost = %+v, want %+v", got, want)
	}
	runs[2].err = &phaseError{Scenario: "tls", Broker: "sluice", Phase: "consume", Err: errStalled}
	got = r.consumeCost(listenerPlain)
	// Two runs left: the lower middle is a real run (1000 and 500 records/s -> 500; 10k and 30k s/GB -> 10k).
	if want := (consumeCost{ok: true, rate: 500, cpuPerGB: 10_000}); got != want {
		t.Fatalf("consumeCost after a failed run = %+v, want %+v", got, want)
	}
	if got := r.consumeCost(listenerSASLSSL); got.ok {
		t.Fatalf("a listener that did not run has figures: %+v", got)
	}
}

func TestLacksDisableSendfileRecognisesOnlyTheUnknownFlag(t *testing.T) {
	old := &phaseError{Scenario: "tls", Broker: "sluice PLAINTEXT no-sendfile", Phase: "start",
		Err: &brokerError{Err: errBrokerExited, Output: "flag provided but not defined: -disable-sendfile\nUsage: ..."}}
	if !lacksDisableSendfile(old) {
		t.Fatal("unknown-flag exit not recognised")
	}
	crashed := &phaseError{Scenario: "tls", Broker: "sluice PLAINTEXT no-sendfile", Phase: "start",
		Err: &brokerError{Err: errBrokerExited, Output: "panic: boom"}}
	if lacksDisableSendfile(crashed) {
		t.Fatal("a crash at start taken for a missing flag")
	}
	later := &phaseError{Scenario: "tls", Broker: "x", Phase: "consume", Err: old.Err}
	if lacksDisableSendfile(later) {
		t.Fatal("a failure after start taken for a missing flag")
	}
}

func TestSelfSignedCertIsTrustedByItsPoolOnly(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	pool, err := writeSelfSignedCert(certFile, keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v, want 0600", fi.Mode(), err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("handshake with the generated pool: %v", err)
	}
	c.Close()
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("handshake trusting nothing: err = %v, want x509.UnknownAuthorityError", err)
	}
}

func TestTLSScenarioSkipsWithoutSluice(t *testing.T) {
	env := &benchEnv{brokers: []brokerSpec{kfakeForTest(t)}, repeat: 1, log: discardLogger()}
	rep := runTLSBench(t.Context(), env, tlsWorkload.scaled(true))
	if !rep.skipped || rep.err() != nil {
		t.Fatalf("skipped %v err %v, want skipped without error", rep.skipped, rep.err())
	}
	if got := rep.summary(); len(got) != 1 || got[0] != "tls: "+skippedWithoutSluice {
		t.Fatalf("summary = %q", got)
	}
}

// TestTLSScenarioAgainstSluice runs the whole section against a freshly
// built sluice: all three listeners, real TLS and SCRAM-SHA-512, exact
// record counts verified by consumeAll on each.
func TestTLSScenarioAgainstSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sluice")
	}
	bin, err := testkit.SluiceBinary() // built once per test binary ($SLUICE_BINARY: prebuilt)
	if err != nil {
		t.Fatal(err)
	}
	env := &benchEnv{brokers: []brokerSpec{sluiceSpec(bin)}, repeat: 1, log: discardLogger()}
	w := workload{name: "tls", recordSize: 1024, records: 3000, partitions: 8, consumePasses: 2}
	rep := runTLSBench(t.Context(), env, w)
	if err := rep.err(); err != nil {
		var out bytes.Buffer
		rep.render(&out)
		t.Fatalf("tls section failed: %v\n%s", err, out.String())
	}
	if len(rep.listeners) != 3 {
		t.Fatalf("%d listeners ran, want 3", len(rep.listeners))
	}
	for _, l := range rep.listeners {
		if len(l.runs) != 1 {
			t.Fatalf("%s: %d runs, want 1", l.broker, len(l.runs))
		}
		run := l.runs[0]
		// Two verified passes over the topic.
		if run.produce.records != 3000 || run.consume.records != 6000 || run.consume.bytes != 6000*1024 {
			t.Fatalf("%s: produced %d, consumed %d records / %d bytes; want 3000, 6000 / %d",
				l.broker, run.produce.records, run.consume.records, run.consume.bytes, 6000*1024)
		}
	}
	var out bytes.Buffer
	rep.render(&out)
	text := out.String()
	for _, want := range []string{
		"== tls: 3,000 records x 1024 B = 3.1 MB, 8 partitions, acks=all, idempotent, no compression, consumed 2 times",
		"PLAINTEXT no-sendfile",
		"SASL_SSL/PLAINTEXT records/s: produce ",
		"consume records/s vs PLAINTEXT: SASL_SSL ",
		", no-sendfile ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	summary := rep.summary()
	if len(summary) != 4 || !strings.HasPrefix(summary[2], "tls   SASL_SSL/PLAINTEXT records/s: produce ") ||
		!strings.Contains(summary[2], "[target >= 0.6x: ") {
		t.Fatalf("summary = %q", summary)
	}
}
