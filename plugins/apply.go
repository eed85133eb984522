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
