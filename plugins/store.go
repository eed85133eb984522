package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/sluicemq/sluice/internal/atomicfile"
	"github.com/sluicemq/sluice/wasm"
)

// Deployment is one deployed plugin version, as listed by the admin API.
type Deployment struct {
	Name       string            `json:"name"`
	Version    int               `json:"version"`
	Hook       wasm.Hook         `json:"hook"`
	Topic      string            `json:"topic"`
	Config     map[string]string `json:"config,omitempty"`
	SHA256     string            `json:"sha256"`
	Size       int               `json:"size"`
	DeployedAt time.Time         `json:"deployed_at"`
	// RollbackOf is set on a version that an automatic or manual rollback
	// made: the version it replaced (its module is the previous version's).
	RollbackOf int `json:"rollback_of,omitempty"`
	// Restores, on a rollback's version, is the earlier version whose
	// module and settings it runs again.
	Restores int `json:"restores,omitempty"`
	// RollbackErrorRate and RollbackWindow: the registry rolls this version
	// back to the previous one when more than RollbackErrorRate of its
	// last RollbackWindow calls failed (0: DefaultRollbackErrorRate and
	// DefaultRollbackWindow; a negative rate: never).
	RollbackErrorRate float64 `json:"rollback_error_rate,omitempty"`
	RollbackWindow    int     `json:"rollback_window,omitempty"`
	// ShadowEvery, on a shadow version: it runs on one call in
	// ShadowEvery (0, 1: every call), to bound what it adds to the live
	// path. Ignored once the version is live.
	ShadowEvery int `json:"shadow_every,omitempty"`
}

// state is the persisted registry: <dir>/deployments.json.
type state struct {
	Deployments []Deployment `json:"deployments"`
	// LastVersions remembers each name's highest version, so versions keep
	// increasing even across a remove and a new deploy.
	LastVersions map[string]int `json:"last_versions"`
	// Shadows are versions running beside a live one with their output
	// discarded (shadow.go). History are the versions that were live
	// before the current one, kept (with their module files) for a
	// rollback: the newest KeepVersions-1 of each plugin (history.go).
	Shadows []Deployment `json:"shadows,omitempty"`
	History []Deployment `json:"history,omitempty"`
	// Previous is the one-version history of earlier releases, read once
	// into History.
	Previous []Deployment `json:"previous,omitempty"`
}

// store persists deployments under dir: deployments.json and one
// modules/<name>-v<version>.wasm per current deployment.
type store struct {
	dir   string
	state state
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "modules"), 0o755); err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	s := &store{dir: dir, state: state{LastVersions: map[string]int{}}}
	b, err := os.ReadFile(s.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("plugins: %w", err)
	}
	if err := json.Unmarshal(b, &s.state); err != nil {
		return nil, fmt.Errorf("plugins: %s: %w", s.statePath(), err)
	}
	if s.state.LastVersions == nil {
		s.state.LastVersions = map[string]int{}
	}
	s.state.History = append(s.state.History, s.state.Previous...)
	s.state.Previous = nil
	return s, nil
}

func (s *store) statePath() string { return filepath.Join(s.dir, "deployments.json") }

func (s *store) modulePath(d Deployment) string {
	return filepath.Join(s.dir, "modules", fmt.Sprintf("%s-v%d.wasm", d.Name, d.Version))
}

// readModule reads a deployment's module and checks its digest.
func (s *store) readModule(d Deployment) ([]byte, error) {
	b, err := os.ReadFile(s.modulePath(d))
	if err != nil {
		return nil, err
	}
	if digest(b) != d.SHA256 {
		return nil, fmt.Errorf("%s: sha256 mismatch (file damaged)", s.modulePath(d))
	}
	return b, nil
}

func (s *store) writeModule(d Deployment, code []byte) error {
	return writeFileSync(s.modulePath(d), code)
}

func (s *store) list() []Deployment {
	out := append([]Deployment(nil), s.state.Deployments...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// save replaces the state with deps and lastVersions, durably: a crash
// leaves either the old or the new file.
func (s *store) save(next state) error {
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(s.statePath(), b); err != nil {
		return err
	}
	s.state = next
	return nil
}

// writeFileSync replaces path atomically (internal/atomicfile).
func writeFileSync(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	return nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// without is a copy of s with name's live, shadow and earlier versions
// dropped (its last version kept).
func (s state) without(name string) state {
	other := func(d Deployment) bool { return d.Name == name }
	return state{
		Deployments:  slices.DeleteFunc(slices.Clone(s.Deployments), other),
		LastVersions: maps.Clone(s.LastVersions),
		Shadows:      slices.DeleteFunc(slices.Clone(s.Shadows), other),
		History:      slices.DeleteFunc(slices.Clone(s.History), other),
	}
}

// history is name's earlier versions, oldest first.
func (s state) history(name string) []Deployment {
	var out []Deployment
	for _, d := range s.History {
		if d.Name == name {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Deployment) int { return a.Version - b.Version })
	return out
}

// clone is a copy of s that can be changed without changing s.
func (s state) clone() state { return s.without("") }
