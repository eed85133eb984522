package plugins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/sluicemq/sluice/wasm"
)

var (
	// ErrNotFound: no plugin of that name is deployed.
	ErrNotFound = errors.New("plugins: no such plugin")
	// ErrConflict: another plugin already has that hook on that topic.
	ErrConflict = errors.New("plugins: hook already bound")
	// ErrInvalid: a deploy request is malformed (name, hook, topic, config).
	ErrInvalid = errors.New("plugins: invalid deploy request")
	// ErrClosed: the registry is closed.
	ErrClosed = errors.New("plugins: registry closed")
)

var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	validTopic = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

// DeployRequest is a new plugin or a new version of one.
type DeployRequest struct {
	Name   string
	Hook   wasm.Hook
	Topic  string
	Config map[string]string
	Wasm   []byte
	// Shadow deploys the module as the shadow of the live version of Name
	// (same hook and topic) instead of replacing it (shadow.go).
	Shadow bool
	// RollbackErrorRate and RollbackWindow: see Deployment.
	RollbackErrorRate float64
	RollbackWindow    int
	// ShadowEvery: see Deployment (with Shadow only).
	ShadowEvery int
}

func (req *DeployRequest) validate() error {
	switch {
	case !validName.MatchString(req.Name):
		return fmt.Errorf("%w: name %q (letters, digits, '.', '_', '-'; up to 128)", ErrInvalid, req.Name)
	case !validTopic.MatchString(req.Topic) || req.Topic == "." || req.Topic == "..":
		return fmt.Errorf("%w: topic %q", ErrInvalid, req.Topic)
	case len(req.Wasm) == 0:
		return fmt.Errorf("%w: empty module", ErrInvalid)
	}
	if _, err := wasm.ParseHook(string(req.Hook)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if req.RollbackErrorRate > 1 {
		return fmt.Errorf("%w: rollback error rate %v (a fraction up to 1; negative: never roll back)", ErrInvalid, req.RollbackErrorRate)
	}
	if req.RollbackWindow < 0 || req.RollbackWindow > MaxRollbackWindow {
		return fmt.Errorf("%w: rollback window %d (1 to %d calls)", ErrInvalid, req.RollbackWindow, MaxRollbackWindow)
	}
	if req.ShadowEvery < 0 || req.ShadowEvery > MaxShadowEvery {
		return fmt.Errorf("%w: shadow_every %d (1 to %d)", ErrInvalid, req.ShadowEvery, MaxShadowEvery)
	}
	for k := range req.Config {
		if k == "" {
			return fmt.Errorf("%w: empty config key", ErrInvalid)
		}
	}
	return nil
}

// Deploy compiles and starts req's module, persists it as the next
// version of req.Name and binds it, replacing the previous version
// without failing in-flight calls (they finish on the old module). It
// changes this registry only; the admin API goes through the cluster-wide
// topic instead once StartSync ran (sync.go).
func (r *Registry) Deploy(ctx context.Context, req DeployRequest) (Deployment, error) {
	if err := req.validate(); err != nil {
		return Deployment{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	if err := r.checkTopic(req.Topic); err != nil {
		return Deployment{}, err
	}
	if err := r.checkConflict(req.Name, req.Hook, req.Topic); err != nil {
		return Deployment{}, err
	}
	if req.Shadow {
		if err := r.checkShadow(req.Name, req.Hook, req.Topic); err != nil {
			return Deployment{}, err
		}
		return r.installShadow(ctx, r.nextDeployment(req), req.Wasm)
	}
	return r.install(ctx, r.nextDeployment(req), req.Wasm)
}

// nextDeployment describes req as the version after the highest this
// registry has seen of req.Name; call with mu held.
func (r *Registry) nextDeployment(req DeployRequest) Deployment {
	return Deployment{
		Name:       req.Name,
		Version:    r.store.state.LastVersions[req.Name] + 1,
		Hook:       req.Hook,
		Topic:      req.Topic,
		Config:     maps.Clone(req.Config),
		SHA256:     digest(req.Wasm),
		Size:       len(req.Wasm),
		DeployedAt: time.Now().UTC().Truncate(time.Millisecond),

		RollbackErrorRate: req.RollbackErrorRate,
		RollbackWindow:    req.RollbackWindow,
		ShadowEvery:       req.ShadowEvery,
	}
}

// checkConflict fails when a plugin other than name has hook on topic;
// call with mu held.
func (r *Registry) checkConflict(name string, hook wasm.Hook, topic string) error {
	for other, l := range r.loaded {
		if other != name && l.dep.Hook == hook && l.dep.Topic == topic {
			return fmt.Errorf("%w: plugin %q is the %s of topic %q (remove it first)", ErrConflict, other, hook, topic)
		}
	}
	return nil
}

// install loads code, persists dep and binds it in place of dep.Name's
// current version; call with mu held. The replaced version joins the
// plugin's history (kept for a rollback, pruned to the newest r.keep
// versions); any shadow ends (a promoted one is now live).
func (r *Registry) install(ctx context.Context, dep Deployment, code []byte) (Deployment, error) {
	cancelled := unretire(dep.Name, false)
	mod, err := r.engine.Load(ctx, wasm.Spec{Name: dep.Name, Hook: dep.Hook, Config: dep.Config, Wasm: code})
	if err != nil {
		requeue(cancelled)
		return Deployment{}, err
	}
	if err := r.store.writeModule(dep, code); err != nil {
		mod.Close()
		requeue(cancelled)
		return Deployment{}, err
	}
	old := r.loaded[dep.Name]
	oldHist := r.store.state.history(dep.Name)
	// Two brokers deploying the same name at once publish equal version
	// numbers; the module file is then shared and the replaced one is not
	// an earlier version.
	hist := slices.DeleteFunc(slices.Clone(oldHist), func(d Deployment) bool { return d.Version == dep.Version })
	if old != nil && old.dep.Version != dep.Version {
		hist = append(hist, old.dep)
	}
	hist = r.pruned(hist)
	next := r.store.state.without(dep.Name)
	next.Deployments = append(next.Deployments, dep)
	next.History = append(next.History, hist...)
	next.LastVersions[dep.Name] = max(next.LastVersions[dep.Name], dep.Version)
	if err := r.store.save(next); err != nil {
		mod.Close()
		requeue(cancelled)
		if !r.referencedFiles()[r.store.modulePath(dep)] {
			r.removeFile(r.store.modulePath(dep))
		}
		return Deployment{}, err
	}
	r.loaded[dep.Name] = &loaded{dep: dep, mod: mod, stats: newLiveStats(dep)}
	r.publish()
	keep := r.referencedFiles()
	var drop []*Deployment
	for i := range oldHist {
		drop = append(drop, &oldHist[i])
	}
	if old != nil {
		old.mod.Close() // waits for calls already running on it
		drop = append(drop, &old.dep)
		if sh := old.shadow; sh != nil {
			sh.mod.Close()
			r.retireShadow(sh)
			drop = append(drop, &sh.dep)
		}
	}
	r.dropFiles(keep, drop...)
	if dep.RollbackOf != 0 {
		rollbacksTotal().WithLabelValues(dep.Name).Inc()
		r.logger.Warn("plugin rolled back", "plugin", dep.Name, "version", dep.Version, "failed_version", dep.RollbackOf, "sha256", dep.SHA256)
	} else {
		r.logger.Info("plugin deployed", "plugin", dep.Name, "version", dep.Version, "hook", dep.Hook, "topic", dep.Topic, "sha256", dep.SHA256)
	}
	return dep, nil
}

// retireShadow queues the deletion of an ended shadow's series until
// the next scrape (retire.go).
func (r *Registry) retireShadow(sh *shadowVersion) {
	mod, stats := sh.mod, sh.stats
	retire(sh.dep.Name, true, func() {
		mod.Forget()
		stats.forget()
	})
}

// dropFiles removes the module files of deps (nil ones skipped) except
// those in keep.
func (r *Registry) dropFiles(keep map[string]bool, deps ...*Deployment) {
	for _, d := range deps {
		if d != nil && !keep[r.store.modulePath(*d)] {
			r.removeFile(r.store.modulePath(*d))
		}
	}
}

// Remove unbinds and deletes the plugin name (all its state) from this
// registry only (see Deploy).
func (r *Registry) Remove(name string) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	return r.uninstall(name)
}

// uninstall removes name with its shadow and earlier versions; call
// with mu held. Its metrics stay until the next scrape (retire.go).
func (r *Registry) uninstall(name string) (Deployment, error) {
	l, ok := r.loaded[name]
	if !ok {
		return Deployment{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	hist := r.store.state.history(name)
	if err := r.store.save(r.store.state.without(name)); err != nil {
		return Deployment{}, err
	}
	delete(r.loaded, name)
	r.publish()
	l.mod.Close()
	mod, stats := l.mod, l.stats
	retire(name, false, func() {
		mod.Forget()
		stats.forget()
	})
	drop := []*Deployment{&l.dep}
	for i := range hist {
		drop = append(drop, &hist[i])
	}
	if sh := l.shadow; sh != nil {
		sh.mod.Close()
		r.retireShadow(sh)
		drop = append(drop, &sh.dep)
	}
	r.dropFiles(r.referencedFiles(), drop...)
	r.logger.Info("plugin removed", "plugin", name, "version", l.dep.Version)
	return l.dep, nil
}
