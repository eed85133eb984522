// Package tlsreload serves a TLS certificate that is reloaded from its
// files without a restart: when the files change (checked on a short
// interval) or on SIGHUP. A reload that fails (a half-written file, a key
// that does not match) keeps the previous certificate and logs why, so a
// renewal in progress never takes a listener down.
package tlsreload

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultInterval is how often the files are checked for changes.
const DefaultInterval = 2 * time.Second

// Reloader holds the current certificate of one cert/key file pair.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serializes reloads
	stamp string     // modification times and sizes of the loaded files

	stop chan struct{}
	done chan struct{}
}

// New loads the pair once (an error if it cannot) and starts watching it:
// every interval (DefaultInterval if <= 0) and on SIGHUP. Close stops it.
func New(certFile, keyFile string, interval time.Duration, logger *slog.Logger) (*Reloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: both a certificate and a key file are needed")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: logger, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer close(r.done)
		defer signal.Stop(hup)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-hup:
				r.reloadLogged(true)
			case <-t.C:
				r.reloadLogged(false)
			}
		}
	}()
	return r, nil
}

func (r *Reloader) reloadLogged(force bool) {
	if !force && r.stampNow() == r.currentStamp() {
		return
	}
	changed, err := r.Reload()
	if err != nil {
		r.log.Error("tls certificate reload failed; keeping the previous certificate", "cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	if changed {
		r.log.Info("tls certificate reloaded", "cert", r.certFile)
	}
}

func (r *Reloader) currentStamp() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stamp
}

// stampNow identifies the files' current versions by size and mtime.
func (r *Reloader) stampNow() string {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "missing"
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

// Reload reads the pair now. changed is false when the files' stamp did
// not move since the last load.
func (r *Reloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp := r.stampNow()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return false, fmt.Errorf("tls: loading %s / %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&cert)
	changed = stamp != r.stamp
	r.stamp = stamp
	return changed, nil
}

// GetCertificate is the tls.Config callback: the current certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// ServerConfig is a TLS 1.2+ server configuration using the reloader.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// Close stops watching.
func (r *Reloader) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		<-r.done
	}
	return nil
}
