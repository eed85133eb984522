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
	err = r.checkConflict(req.Name, req.Hook, req.Topic)
	dep := r.nextDeployment(req)
	r.mu.Unlock()
	if err != nil {
		return Deployment{}, err
	}
	value, err := encodeDeployment(dep, req.Wasm)
	if err != nil {
		return Deployment{}, err
	}
	if err := s.produce(ctx, &kgo.Record{Topic: DeploymentsTopic, Key: []byte(dep.Name), Value: value}); err != nil {
		return Deployment{}, err
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
