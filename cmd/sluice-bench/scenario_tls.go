package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The tls scenario measures what encryption and authentication cost: the
// same 1 KB produce/consume workload and the same kgo client code against
// one Sluice binary over PLAINTEXT and over SASL_SSL (SCRAM-SHA-512, a
// certificate made here in-process). A third listener, PLAINTEXT with
// --disable-sendfile, separates the part of the TLS consume cost that is
// only the loss of sendfile(2): over TLS, fetched record data is read
// from the segment file and encrypted in user space (core/kafka/sendfile.go,
// sendChunk) instead of going from the page cache to the socket in the
// kernel. Machine speed cancels out of the ratios.

const (
	// targetTLSRatio is the SASL_SSL / PLAINTEXT records/s Sluice aims
	// for, produce and consume alike.
	targetTLSRatio = 0.6
	// tlsBenchUser is the SCRAM user the bench creates at broker start.
	tlsBenchUser = "bench"
)

// tlsWorkload's consume phase reads the topic three times: one read of
// 150 MB takes well under a second, too short to measure on a busy machine.
var tlsWorkload = workload{name: "tls", recordSize: 1024, records: 150_000, partitions: 8, consumePasses: 3}

// Listener labels, also the table's row names.
const (
	listenerPlain    = "PLAINTEXT"
	listenerNoSendfl = "PLAINTEXT no-sendfile"
	listenerSASLSSL  = "SASL_SSL"
)

// errNoDisableSendfile means the sluice binary predates --disable-sendfile:
// the sendfile sub-figure is then reported as unavailable, not as a failure.
var errNoDisableSendfile = errors.New("this sluice binary has no --disable-sendfile flag")

func tlsScenario() scenario {
	w := tlsWorkload
	return scenario{
		name: w.name,
		description: fmt.Sprintf("Sluice only: %s x %d B over PLAINTEXT, PLAINTEXT --disable-sendfile and SASL_SSL (SCRAM-SHA-512), ratios (-quick: 1/%d)",
			groupDigits(w.records), w.recordSize, quickScale),
		run: func(ctx context.Context, env *benchEnv) section {
			return runTLSBench(ctx, env, w.scaled(env.quick))
		},
	}
}

// tlsReport is the tls section: one series per listener, in listener order.
type tlsReport struct {
	workload  workload
	listeners []brokerRuns
	skipped   bool
	// noSendfileNote explains a missing no-sendfile series ("" if it ran).
	noSendfileNote string
	errs           []error
}

func (r *tlsReport) err() error { return errors.Join(r.errs...) }

func (r *tlsReport) figures(listener, phase string) phaseFigures {
	for _, l := range r.listeners {
		if l.broker == listener {
			return l.phase(phase)
		}
	}
	return phaseFigures{}
}

func (r *tlsReport) render(out io.Writer) {
	w := r.workload
	fmt.Fprintf(out, "\n== tls: %s records x %d B = %.1f MB, %d partitions, acks=all, idempotent, %s, consumed %d times; one Sluice per listener, same kgo client\n",
		groupDigits(w.records), w.recordSize, float64(w.totalBytes())/megabyte, w.partitions, produceCodecName, max(1, w.consumePasses))
	if r.skipped {
		fmt.Fprintln(out, skippedWithoutSluice)
		return
	}
	writePhaseTable(out, "listener", r.listeners)
	for _, line := range r.resultLines() {
		fmt.Fprintln(out, line)
	}
	for _, err := range r.errs {
		fmt.Fprintf(out, "FAILED %v\n", err)
		writeBrokerOutput(out, err)
	}
}

// resultLines are the ratio line and the sendfile line, shared by the
// report and the summary.
func (r *tlsReport) resultLines() []string {
	return []string{
		tlsRatioLine(r.figures(listenerPlain, "produce"), r.figures(listenerSASLSSL, "produce"),
			r.figures(listenerPlain, "consume"), r.figures(listenerSASLSSL, "consume")),
		sendfileLine(r.consumeCost(listenerPlain), r.consumeCost(listenerNoSendfl), r.consumeCost(listenerSASLSSL), r.noSendfileNote),
	}
}

// tlsRatioLine is SASL_SSL over PLAINTEXT records/s per phase, against
// the target.
func tlsRatioLine(plainP, tlsP, plainC, tlsC phaseFigures) string {
	ratio := func(phase string, plain, enc phaseFigures) string {
		if !plain.ok || !enc.ok || plain.rate() == 0 {
			return phase + " n/a"
		}
		x := enc.rate() / plain.rate()
		return fmt.Sprintf("%s %.2fx [target >= %.1fx: %s]", phase, x, targetTLSRatio, passOrMiss(x >= targetTLSRatio))
	}
	return "SASL_SSL/PLAINTEXT records/s: " + ratio("produce", plainP, tlsP) + "; " + ratio("consume", plainC, tlsC)
}

// consumeCost is one listener's consume figures for sendfileLine.
type consumeCost struct {
	ok       bool
	rate     float64 // records/s of the median run
	cpuPerGB float64 // median over runs of broker CPU s per 10^9 bytes
}

func (r *tlsReport) consumeCost(listener string) consumeCost {
	for _, l := range r.listeners {
		if l.broker != listener {
			continue
		}
		f := l.phase("consume")
		var perGB []float64
		for _, run := range l.runs {
			if run.consumed() && run.consume.bytes > 0 {
				perGB = append(perGB, run.consumeUsage.cpu.Seconds()/(float64(run.consume.bytes)/1e9))
			}
		}
		if !f.ok || len(perGB) == 0 {
			return consumeCost{}
		}
		slices.Sort(perGB)
		return consumeCost{ok: true, rate: f.rate(), cpuPerGB: perGB[(len(perGB)-1)/2]}
	}
	return consumeCost{}
}

// sendfileLine says how much of what TLS costs on consume is the loss of
// sendfile: in records/s, and in broker CPU per GB consumed, which a
// loaded machine disturbs much less (records/s also carries the client's
// and the scheduler's noise). A share is only given when both losses were
// measured and the part is not larger than the whole.
func sendfileLine(plain, noSendfile, enc consumeCost, note string) string {
	const prefix = "sendfile (lost over TLS: fetched data is copied through user space, core/kafka/sendfile.go): "
	if !plain.ok || !enc.ok || plain.rate == 0 {
		return prefix + "n/a"
	}
	encX := enc.rate / plain.rate
	s := fmt.Sprintf("consume records/s vs PLAINTEXT: SASL_SSL %.2fx", encX)
	if !noSendfile.ok {
		if note == "" {
			note = "the no-sendfile runs failed"
		}
		return prefix + s + fmt.Sprintf("; broker CPU s/GB consumed: sendfile %.2f, SASL_SSL %.2f; sendfile's share n/a (%s)",
			plain.cpuPerGB, enc.cpuPerGB, note)
	}
	copyX := noSendfile.rate / plain.rate
	s += fmt.Sprintf(", no-sendfile %.2fx", copyX)
	if tlsLoss, copyLoss := 1-encX, 1-copyX; tlsLoss > 0 && copyLoss > 0 && copyLoss <= tlsLoss {
		s += fmt.Sprintf(": losing sendfile is %.0f of the %.0f points TLS loses (%.0f%%)", 100*copyLoss, 100*tlsLoss, 100*copyLoss/tlsLoss)
	}
	s += fmt.Sprintf("; broker CPU s/GB consumed: sendfile %.2f, no-sendfile %.2f, SASL_SSL %.2f", plain.cpuPerGB, noSendfile.cpuPerGB, enc.cpuPerGB)
	if tlsExtra, copyExtra := enc.cpuPerGB-plain.cpuPerGB, noSendfile.cpuPerGB-plain.cpuPerGB; tlsExtra > 0 && copyExtra > 0 && copyExtra <= tlsExtra {
		s += fmt.Sprintf(": copying is +%.2f of TLS's +%.2f (%.0f%%)", copyExtra, tlsExtra, 100*copyExtra/tlsExtra)
	}
	return prefix + s
}

func (r *tlsReport) summary() []string {
	if r.skipped {
		return []string{"tls: " + skippedWithoutSluice}
	}
	label := fmt.Sprintf("%-5s", r.workload.name)
	var lines []string
	for _, phase := range []string{"produce", "consume"} {
		var parts []string
		for _, l := range r.listeners {
			parts = append(parts, l.broker+" "+l.phase(phase).compact(phase))
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", label, phase, strings.Join(parts, " | ")))
	}
	for _, line := range r.resultLines() {
		lines = append(lines, label+" "+line)
	}
	return lines
}

// tlsListener is how one listener is started and reached.
type tlsListener struct {
	label string
	args  []string // serve flags beyond data dir and addresses
	opts  []kgo.Opt
}

func runTLSBench(ctx context.Context, env *benchEnv, w workload) *tlsReport {
	rep := &tlsReport{workload: w}
	sluicePath, ok := sluiceBinary(env)
	if !ok {
		rep.skipped = true
		return rep
	}
	dir, err := os.MkdirTemp("", "sluice-bench-tls-")
	if err != nil {
		rep.errs = append(rep.errs, &phaseError{Scenario: w.name, Broker: "sluice", Phase: "setup", Err: err})
		return rep
	}
	defer os.RemoveAll(dir)
	listeners, err := tlsListeners(dir)
	if err != nil {
		rep.errs = append(rep.errs, &phaseError{Scenario: w.name, Broker: "sluice", Phase: "setup", Err: err})
		return rep
	}

	payload := newPayloadSource(w.recordSize)
	for _, l := range listeners {
		rep.listeners = append(rep.listeners, brokerRuns{broker: l.label})
	}
	// Repetitions alternate between listeners, and each round starts with
	// the next one, so a slow spell of the machine (or the first run's
	// cold start) is shared instead of landing on one of them.
	for round := 1; round <= env.repeat && ctx.Err() == nil; round++ {
		for j := range listeners {
			i := (j + round - 1) % len(listeners)
			l, series := listeners[i], &rep.listeners[i]
			if ctx.Err() != nil || series.failed() || (l.label == listenerNoSendfl && rep.noSendfileNote != "") {
				continue
			}
			env.log.Info("workload starting", "workload", w.name, "listener", l.label,
				"repetition", fmt.Sprintf("%d/%d", round, env.repeat), "records", w.records)
			run := runThroughput(ctx, env, sluiceListenerSpec(sluicePath, l), w, payload)
			if run.err != nil && l.label == listenerNoSendfl && lacksDisableSendfile(run.err) {
				// An older binary: the sub-figure is unavailable, which
				// is reported but does not fail the section.
				rep.noSendfileNote = errNoDisableSendfile.Error()
				continue
			}
			if run.err != nil {
				env.log.Error("workload failed", "workload", w.name, "listener", l.label, "err", run.err)
				rep.errs = append(rep.errs, run.err)
			}
			series.runs = append(series.runs, run)
		}
	}
	if rep.noSendfileNote != "" {
		rep.listeners = slices.DeleteFunc(rep.listeners, func(b brokerRuns) bool { return b.broker == listenerNoSendfl })
	}
	return rep
}

// lacksDisableSendfile recognises the flag package's complaint about an
// unknown flag in a broker that exited at start.
func lacksDisableSendfile(err error) bool {
	var be *brokerError
	return failedPhase(err) == "start" && errors.As(err, &be) &&
		strings.Contains(be.Output, "flag provided but not defined: -disable-sendfile")
}

// sluiceListenerSpec runs `sluice serve` with one listener's flags and
// the HTTP listener off (nothing here uses it).
func sluiceListenerSpec(path string, l tlsListener) brokerSpec {
	return brokerSpec{name: "sluice " + l.label, binary: path, args: l.args, clientOpts: l.opts}
}

// tlsListeners writes the certificate, key and bootstrap password into dir
// and returns the three listeners in run order.
func tlsListeners(dir string) ([]tlsListener, error) {
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots, err := writeSelfSignedCert(certFile, keyFile, time.Now())
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(secret)
	pwFile := filepath.Join(dir, "bench.pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []tlsListener{
		{label: listenerPlain},
		{label: listenerNoSendfl, args: []string{"--disable-sendfile"}},
		{
			label: listenerSASLSSL,
			args: []string{
				"--kafka-security-protocol", "SASL_SSL",
				"--tls-cert", certFile, "--tls-key", keyFile,
				"--sasl-mechanisms", "SCRAM-SHA-512",
				"--bootstrap-user", tlsBenchUser, "--bootstrap-password-file", pwFile,
			},
			opts: []kgo.Opt{
				kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
				kgo.SASL(scram.Auth{User: tlsBenchUser, Pass: password}.AsSha512Mechanism()),
			},
		},
	}, nil
}

// writeSelfSignedCert writes a fresh ECDSA P-256 certificate for
// 127.0.0.1 and localhost, valid for a day from now, and returns a pool
// that trusts it.
func writeSelfSignedCert(certFile, keyFile string, now time.Time) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sluice-bench"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
