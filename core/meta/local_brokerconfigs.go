package meta

import (
	"fmt"
	"maps"
)

// Dynamic broker configs on the single-node store live in its state file
// (localState.BrokerConfigs), by entity.

// BrokerConfigs implements BrokerConfigStore.
func (l *Local) BrokerConfigs(entity string) (map[string]string, error) {
	if !validBrokerEntity(entity) {
		return nil, fmt.Errorf("%w: broker config entity %q", ErrInvalid, entity)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return cloneConfigs(l.state.BrokerConfigs[entity]), nil
}

// SetBrokerConfigs implements BrokerConfigStore.
func (l *Local) SetBrokerConfigs(entity string, configs map[string]string) error {
	if !validBrokerEntity(entity) {
		return fmt.Errorf("%w: broker config entity %q", ErrInvalid, entity)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.setBrokerConfigsLocked(entity, configs)
}

// UpdateBrokerConfigs implements BrokerConfigStore under the store's lock.
func (l *Local) UpdateBrokerConfigs(entity string, edit ConfigEdit) error {
	if !validBrokerEntity(entity) {
		return fmt.Errorf("%w: broker config entity %q", ErrInvalid, entity)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next, err := edit(cloneConfigs(l.state.BrokerConfigs[entity]))
	if err != nil {
		return err
	}
	return l.setBrokerConfigsLocked(entity, next)
}

func (l *Local) setBrokerConfigsLocked(entity string, configs map[string]string) error {
	old := l.state.BrokerConfigs
	next := make(map[string]map[string]string, len(old)+1)
	maps.Copy(next, old)
	if len(configs) == 0 {
		delete(next, entity)
	} else {
		next[entity] = cloneConfigs(configs)
	}
	l.state.BrokerConfigs = next
	if err := l.commitLocked(); err != nil {
		l.state.BrokerConfigs = old
		return err
	}
	return nil
}

var _ BrokerConfigStore = (*Local)(nil)
