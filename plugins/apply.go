package plugins

import (
	"context"
	"fmt"
)

// applyDeploy makes dep (from the deployments topic) current unless this
// registry already has it or something newer. Records arrive in topic
// order, so every broker takes the same decisions; at startup a broker
// replays the topic over its persisted state and skips what it has.
func (r *Registry) applyDeploy(ctx context.Context, dep Deployment, code []byte) (applied bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, ErrClosed
	}
	last := r.store.state.LastVersions[dep.Name]
	cur, has := r.loaded[dep.Name]
	switch {
	case dep.Version < last:
		return false, nil // superseded
	case dep.RollbackOf != 0 && has && cur.dep.Version != dep.RollbackOf:
		// Another broker's rollback of the same failing version came
		// first (or the version it rolls back was replaced meanwhile).
		return false, nil
	case dep.Version == last:
		// Either the version we run (or removed since), or a concurrent
		// deploy of the same name on another broker that drew the same
		// number: the later record in topic order wins.
		if !has || (cur.dep.SHA256 == dep.SHA256 && cur.dep.DeployedAt.Equal(dep.DeployedAt)) {
			return false, nil
		}
	}
	if err := r.checkConflict(dep.Name, dep.Hook, dep.Topic); err != nil {
		return false, err
	}
	if _, err := r.install(ctx, dep, code); err != nil {
		return false, fmt.Errorf("plugins: applying %q version %d: %w", dep.Name, dep.Version, err)
	}
	return true, nil
}

// applyRemove removes name if what runs is not newer than version (the
// version the tombstone's publisher removed).
func (r *Registry) applyRemove(name string, version int) (applied bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, ErrClosed
	}
	cur, has := r.loaded[name]
	if !has || cur.dep.Version > version {
		return false, nil
	}
	if _, err := r.uninstall(name); err != nil {
		return false, err
	}
	return true, nil
}

// applyShadow makes dep the shadow of its plugin's live version unless
// it is superseded: not newer than the live version (promoted or older)
// or than the current shadow. With no live version (removed, or a
// compacted topic whose later live record ends this shadow anyway) it is
// not applied, on every broker alike.
func (r *Registry) applyShadow(ctx context.Context, dep Deployment, code []byte) (applied bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, ErrClosed
	}
	l, has := r.loaded[dep.Name]
	switch {
	case !has || dep.Version <= l.dep.Version:
		return false, nil
	case l.shadow != nil && (l.shadow.dep.Version > dep.Version ||
		(l.shadow.dep.Version == dep.Version && l.shadow.dep.SHA256 == dep.SHA256 && l.shadow.dep.DeployedAt.Equal(dep.DeployedAt))):
		return false, nil
	}
	if err := r.checkShadow(dep.Name, dep.Hook, dep.Topic); err != nil {
		return false, err
	}
	if _, err := r.installShadow(ctx, dep, code); err != nil {
		return false, fmt.Errorf("plugins: applying shadow %q version %d: %w", dep.Name, dep.Version, err)
	}
	return true, nil
}

// applyRemoveShadow stops name's shadow if it is not newer than version.
func (r *Registry) applyRemoveShadow(name string, version int) (applied bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, ErrClosed
	}
	l, has := r.loaded[name]
	if !has || l.shadow == nil || l.shadow.dep.Version > version {
		return false, nil
	}
	if _, err := r.uninstallShadow(name); err != nil {
		return false, err
	}
	return true, nil
}
