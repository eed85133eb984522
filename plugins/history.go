package plugins

import (
	"context"
	"fmt"
	"slices"
)

// DefaultKeepVersions is how many versions of each plugin are kept on
// disk (the live one included) for `sluice plugin rollback`, unless
// SetKeepVersions (serve's --plugin-keep-versions) says otherwise.
const DefaultKeepVersions = 5

// MaxKeepVersions bounds SetKeepVersions.
const MaxKeepVersions = 1000

// ErrUnknownTopic: a deploy names a topic that does not exist.
var ErrUnknownTopic = fmt.Errorf("%w: unknown topic", ErrInvalid)

// SetKeepVersions sets how many versions of each plugin are kept (the
// live one included; 1 keeps none for a rollback) and prunes the older
// ones now.
func (r *Registry) SetKeepVersions(n int) error {
	if n < 1 || n > MaxKeepVersions {
		return fmt.Errorf("%w: keep %d versions (1 to %d)", ErrInvalid, n, MaxKeepVersions)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.keep = n
	next := r.store.state.clone()
	next.History = nil
	var drop []*Deployment
	for _, name := range r.store.state.names() {
		hist := r.store.state.history(name)
		kept := r.pruned(hist)
		next.History = append(next.History, kept...)
		for i := range hist[:len(hist)-len(kept)] {
			drop = append(drop, &hist[i])
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if err := r.store.save(next); err != nil {
		return err
	}
	r.dropFiles(r.referencedFiles(), drop...)
	return nil
}

// pruned is the newest keep-1 of hist (oldest first); call with mu held.
func (r *Registry) pruned(hist []Deployment) []Deployment {
	keep := r.keep
	if keep <= 0 {
		keep = DefaultKeepVersions
	}
	if n := len(hist) - (keep - 1); n > 0 {
		return hist[n:]
	}
	return hist
}

// names is every plugin name with a live or earlier version in s.
func (s state) names() []string {
	var out []string
	for _, list := range [][]Deployment{s.Deployments, s.History} {
		for _, d := range list {
			if !slices.Contains(out, d.Name) {
				out = append(out, d.Name)
			}
		}
	}
	return out
}

// referencedFiles is the set of module files the persisted state uses;
// call with mu held.
func (r *Registry) referencedFiles() map[string]bool {
	st := r.store.state
	keep := map[string]bool{}
	for _, list := range [][]Deployment{st.Deployments, st.Shadows, st.History} {
		for _, d := range list {
			keep[r.store.modulePath(d)] = true
		}
	}
	return keep
}

// previous is the version a rollback of name restores when none is
// named: the newest earlier version that was not itself rolled back from
// (so an automatic rollback never returns to a version that failed, and
// repeated rollbacks walk back through the history) and whose module
// differs from the live one. nil: none. Call with mu held.
func (r *Registry) previous(name string) *Deployment {
	l, ok := r.loaded[name]
	if !ok {
		return nil
	}
	hist := r.store.state.history(name)
	rolledBack := map[int]bool{l.dep.RollbackOf: true}
	for _, d := range hist {
		rolledBack[d.RollbackOf] = true
	}
	for i := len(hist) - 1; i >= 0; i-- {
		d := hist[i]
		if d.Version < l.dep.Version && !rolledBack[d.Version] && d.SHA256 != l.dep.SHA256 {
			return &d
		}
	}
	return nil
}

// Version is one kept version of a plugin, as GET
// /admin/plugins/{name}/versions lists it.
type Version struct {
	Deployment
	// Live: the version running now.
	Live bool `json:"live,omitempty"`
}

// VersionsResponse is the body of GET /admin/plugins/{name}/versions:
// the versions kept on this broker, newest first, and the version a
// rollback without a version would restore (0: none).
type VersionsResponse struct {
	Name     string    `json:"name"`
	Versions []Version `json:"versions"`
	Previous int       `json:"previous_version,omitempty"`
}

// Versions lists name's kept versions, newest first.
func (r *Registry) Versions(name string) (VersionsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.loaded[name]
	if !ok {
		return VersionsResponse{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	out := VersionsResponse{Name: name, Versions: []Version{{Deployment: l.dep, Live: true}}}
	hist := r.store.state.history(name)
	for i := len(hist) - 1; i >= 0; i-- {
		out.Versions = append(out.Versions, Version{Deployment: hist[i]})
	}
	if p := r.previous(name); p != nil {
		out.Previous = p.Version
	}
	return out, nil
}

// SetTopicExists makes deploys check that their topic exists (node
// gives the broker's metadata). Without it, any valid topic name is
// accepted (a registry used without a broker).
func (r *Registry) SetTopicExists(exists func(topic string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topicExists = exists
}

// checkTopic fails when topic is known not to exist; call with mu held.
// Records of the deployments topic are applied without it: their topic
// existed where they were deployed, and this broker's metadata may lag.
func (r *Registry) checkTopic(topic string) error {
	if r.topicExists != nil && !r.topicExists(topic) {
		return fmt.Errorf("%w %q: create it first: sluice topic create %s", ErrUnknownTopic, topic, topic)
	}
	return nil
}

// TopicDeleted unbinds the plugins bound to topic, which was just
// deleted (kafka.Config.OnTopicDeleted): cluster-wide, as an undeploy,
// so a topic re-created under the same name starts without plugins. A
// removal that cannot be published is made on this broker at least.
func (r *Registry) TopicDeleted(ctx context.Context, topic string) {
	r.mu.Lock()
	var names []string
	for name, l := range r.loaded {
		if l.dep.Topic == topic {
			names = append(names, name)
		}
	}
	r.mu.Unlock()
	slices.Sort(names)
	for _, name := range names {
		dep, err := r.RemoveClusterWide(ctx, name)
		if err != nil {
			r.logger.Error("plugins: unbinding a plugin of a deleted topic cluster-wide", "plugin", name, "topic", topic, "err", err)
			if dep, err = r.Remove(name); err != nil {
				continue
			}
		}
		r.logger.Info("plugin removed: its topic was deleted", "plugin", name, "version", dep.Version, "topic", topic)
	}
}
