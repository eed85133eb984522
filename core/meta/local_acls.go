package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicemq/sluice/internal/atomicfile"
)

// localACLsFile holds the embedded store's ACL bindings, apart from
// meta.json so that topics and ACLs change independently.
const localACLsFile = "acls.json"

// localACLs is the Local store's ACL state, loaded lazily on first use.
type localACLs struct {
	once    sync.Once
	loadErr error
	mu      sync.RWMutex // guards list and changed
	list    []ACLBinding
	changed chan struct{}
}

type localACLsState struct {
	Version int          `json:"version"`
	ACLs    []ACLBinding `json:"acls"`
}

func (l *Local) aclPath() string { return filepath.Join(filepath.Dir(l.path), localACLsFile) }

func (l *Local) loadACLs() error {
	a := &l.acls
	a.once.Do(func() {
		a.changed = make(chan struct{})
		b, err := os.ReadFile(l.aclPath())
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			a.loadErr = fmt.Errorf("meta: read %s: %w", l.aclPath(), err)
			return
		}
		var st localACLsState
		if err := json.Unmarshal(b, &st); err != nil {
			a.loadErr = fmt.Errorf("meta: parse %s: %w", l.aclPath(), err)
			return
		}
		a.list = st.ACLs
	})
	return a.loadErr
}

// StartACLs reads acls.json now, so a corrupt file fails at start rather
// than at the first check.
func (l *Local) StartACLs() error { return l.loadACLs() }

// ACLs implements ACLStore.
func (l *Local) ACLs() []ACLBinding {
	if l.loadACLs() != nil {
		return nil
	}
	l.acls.mu.RLock()
	defer l.acls.mu.RUnlock()
	return append([]ACLBinding(nil), l.acls.list...)
}

// CreateACLs implements ACLStore.
func (l *Local) CreateACLs(bs []ACLBinding) error {
	if err := l.loadACLs(); err != nil {
		return err
	}
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return err
		}
	}
	a := &l.acls
	a.mu.Lock()
	defer a.mu.Unlock()
	return l.commitACLsLocked(dedupACLs(a.list, bs))
}

// DeleteACLs implements ACLStore.
func (l *Local) DeleteACLs(filters []ACLFilter) ([][]ACLBinding, error) {
	if err := l.loadACLs(); err != nil {
		return nil, err
	}
	a := &l.acls
	a.mu.Lock()
	defer a.mu.Unlock()
	keep, removed := deleteACLs(a.list, filters)
	if len(keep) == len(a.list) {
		return removed, nil
	}
	if err := l.commitACLsLocked(keep); err != nil {
		return nil, err
	}
	return removed, nil
}

// ACLChanges implements ACLStore.
func (l *Local) ACLChanges() <-chan struct{} {
	l.loadACLs()
	l.acls.mu.RLock()
	defer l.acls.mu.RUnlock()
	return l.acls.changed
}

// commitACLsLocked persists list (atomically) and announces it.
func (l *Local) commitACLsLocked(list []ACLBinding) error {
	b, err := json.MarshalIndent(localACLsState{Version: 1, ACLs: list}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(l.aclPath(), b); err != nil {
		return err
	}
	l.acls.list = list
	close(l.acls.changed)
	l.acls.changed = make(chan struct{})
	return nil
}

var _ ACLStore = (*Local)(nil)
