package plugins

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/wasm"
)

// DeployClusterWide deploys req on every broker: with StartSync running it
// checks req here (validity, module, hook conflicts), publishes it to the
// deployments topic and returns once the record is acknowledged and
// applied on this broker; otherwise it is Deploy.
func (r *Registry) DeployClusterWide(ctx context.Context, req DeployRequest) (Deployment, error) {
	s := r.syncing()
	if s == nil {
		return r.Deploy(ctx, req)
	}
	if err := req.validate(); err != nil {
		return Deployment{}, err
	}
	s.catchUp(ctx)
	// Compile it here first, so a bad module is a 400 to the caller rather
	// than a record every broker rejects. The compilation cache makes the
	// load that applies it cheap.
	mod, err := r.engine.Load(ctx, wasm.Spec{Name: req.Name, Hook: req.Hook, Config: req.Config, Wasm: req.Wasm})
	if err != nil {
		return Deployment{}, err
	}
	mod.Close()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Deployment{}, ErrClosed
	}
	err = r.checkTopic(req.Topic)
	if err == nil {
		err = r.checkConflict(req.Name, req.Hook, req.Topic)
	}
	if err == nil && req.Shadow {
		err = r.checkShadow(req.Name, req.Hook, req.Topic)
	}
	dep := r.nextDeployment(req)
	r.mu.Unlock()
	if err != nil {
		return Deployment{}, err
	}
	value, err := encodeDeployment(dep, req.Wasm)
	if err != nil {
		return Deployment{}, err
	}
	key := dep.Name
	if req.Shadow {
		key += shadowSuffix
	}
	if err := s.produce(ctx, &kgo.Record{Topic: DeploymentsTopic, Key: []byte(key), Value: value}); err != nil {
		return Deployment{}, err
	}
	if req.Shadow {
		return r.checkApplied(dep, true)
	}
	got, err := r.Get(dep.Name)
	if err != nil || got.SHA256 != dep.SHA256 || !got.DeployedAt.Equal(dep.DeployedAt) {
		// Another broker's change to the same name or hook won the race.
		return Deployment{}, fmt.Errorf("%w: a concurrent change to plugin %q or topic %q superseded this deploy", ErrConflict, dep.Name, dep.Topic)
	}
	return got, nil
}

// RemoveClusterWide removes name from every broker: with StartSync
// running it publishes a tombstone and returns once it is acknowledged and
// applied here; otherwise it is Remove.
func (r *Registry) RemoveClusterWide(ctx context.Context, name string) (Deployment, error) {
	s := r.syncing()
	if s == nil {
		return r.Remove(name)
	}
	s.catchUp(ctx)
	dep, err := r.Get(name)
	if err != nil {
		return Deployment{}, err
	}
	rec := &kgo.Record{
		Topic:   DeploymentsTopic,
		Key:     []byte(name),
		Headers: []kgo.RecordHeader{{Key: tombstoneVersionKey, Value: formatVersion(dep.Version)}},
	}
	if err := s.produce(ctx, rec); err != nil {
		return Deployment{}, err
	}
	return dep, nil
}

// checkApplied returns dep if this broker now runs it (as the shadow, or
// live), else the conflict error of a deploy that lost a race.
func (r *Registry) checkApplied(dep Deployment, shadow bool) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var got *Deployment
	if l := r.loaded[dep.Name]; l != nil {
		got = &l.dep
		if shadow {
			got = nil
			if l.shadow != nil {
				got = &l.shadow.dep
			}
		}
	}
	if got == nil || got.Version != dep.Version || got.SHA256 != dep.SHA256 || !got.DeployedAt.Equal(dep.DeployedAt) {
		return Deployment{}, fmt.Errorf("%w: a concurrent change to plugin %q superseded this change", ErrConflict, dep.Name)
	}
	return *got, nil
}

// PromoteClusterWide makes name's shadow version live on every broker:
// with StartSync running it publishes the shadow's deployment under the
// plugin's own key (so the compacted topic keeps it as the live version)
// and returns once applied here; otherwise it is Promote.
func (r *Registry) PromoteClusterWide(ctx context.Context, name string) (Deployment, error) {
	s := r.syncing()
	if s == nil {
		return r.Promote(ctx, name)
	}
	s.catchUp(ctx)
	r.mu.Lock()
	dep, code, err := r.promotion(name)
	r.mu.Unlock()
	if err != nil {
		return Deployment{}, err
	}
	return r.publishLive(ctx, s, dep, code)
}

// RollbackClusterWide replaces name's live version (failing, or whatever
// is live when 0) by its previous version on every broker: with StartSync
// running it publishes the previous module as a new version marked
// RollbackOf (every broker applies the same module, whatever it knew of
// the previous version) and returns once applied here; otherwise it is
// Rollback.
func (r *Registry) RollbackClusterWide(ctx context.Context, name string, failing int) (Deployment, error) {
	return r.rollbackClusterWide(ctx, name, failing, 0)
}

// RollbackToClusterWide makes version (0: the previous one) of name live
// again on every broker, like RollbackClusterWide; the version must be
// kept on this broker (GET /admin/plugins/{name}/versions).
func (r *Registry) RollbackToClusterWide(ctx context.Context, name string, version int) (Deployment, error) {
	return r.rollbackClusterWide(ctx, name, 0, version)
}

func (r *Registry) rollbackClusterWide(ctx context.Context, name string, failing, to int) (Deployment, error) {
	s := r.syncing()
	if s == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return Deployment{}, ErrClosed
		}
		return r.rollback(ctx, name, failing, to)
	}
	s.catchUp(ctx)
	r.mu.Lock()
	dep, code, err := r.rollbackTo(name, failing, to)
	r.mu.Unlock()
	if err != nil {
		return Deployment{}, err
	}
	return r.publishLive(ctx, s, dep, code)
}

func (r *Registry) publishLive(ctx context.Context, s *syncer, dep Deployment, code []byte) (Deployment, error) {
	value, err := encodeDeployment(dep, code)
	if err != nil {
		return Deployment{}, err
	}
	if err := s.produce(ctx, &kgo.Record{Topic: DeploymentsTopic, Key: []byte(dep.Name), Value: value}); err != nil {
		return Deployment{}, err
	}
	return r.checkApplied(dep, false)
}

// RemoveShadowClusterWide stops name's shadow on every broker (a
// tombstone of its shadow key), or on this one without StartSync.
func (r *Registry) RemoveShadowClusterWide(ctx context.Context, name string) (Deployment, error) {
	s := r.syncing()
	if s == nil {
		return r.RemoveShadow(name)
	}
	s.catchUp(ctx)
	r.mu.Lock()
	var dep Deployment
	l := r.loaded[name]
	if l != nil && l.shadow != nil {
		dep = l.shadow.dep
	}
	r.mu.Unlock()
	if dep.Name == "" {
		return Deployment{}, fmt.Errorf("%w: %q has no shadow version", ErrNotFound, name)
	}
	rec := &kgo.Record{
		Topic:   DeploymentsTopic,
		Key:     []byte(name + shadowSuffix),
		Headers: []kgo.RecordHeader{{Key: tombstoneVersionKey, Value: formatVersion(dep.Version)}},
	}
	if err := s.produce(ctx, rec); err != nil {
		return Deployment{}, err
	}
	return dep, nil
}
