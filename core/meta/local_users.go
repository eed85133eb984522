package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// localUsersFile holds the embedded store's SCRAM credentials, apart from
// meta.json so that topic metadata can be shared or inspected without
// handing out credentials (it is written 0600).
const localUsersFile = "users.json"

// localUsers is users.json: user → mechanism → credential in Kafka's
// textual form ("salt=...,stored_key=...,server_key=...,iterations=N").
type localUsers struct {
	Version int                          `json:"version"`
	Users   map[string]map[string]string `json:"users"`
}

// loadUsersLocked reads users.json once; l.mu must be held for writing
// (or the store not yet shared).
func (l *Local) loadUsersLocked() error {
	if l.users != nil {
		return nil
	}
	path := filepath.Join(filepath.Dir(l.path), localUsersFile)
	b, err := os.ReadFile(path)
	users := map[string]map[string]auth.ScramCredential{}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("meta: read %s: %w", path, err)
	default:
		var f localUsers
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("meta: parse %s: %w", path, err)
		}
		for name, mechs := range f.Users {
			for mech, s := range mechs {
				c, err := ParseScramCredential(s)
				if err != nil {
					return fmt.Errorf("meta: %s: user %q %s: %w", path, name, mech, err)
				}
				if users[name] == nil {
					users[name] = map[string]auth.ScramCredential{}
				}
				users[name][mech] = c
			}
		}
	}
	l.users = users
	return nil
}

func (l *Local) persistUsersLocked() error {
	f := localUsers{Version: 1, Users: map[string]map[string]string{}}
	for name, mechs := range l.users {
		f.Users[name] = map[string]string{}
		for mech, c := range mechs {
			f.Users[name][mech] = FormatScramCredential(c)
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteMode(filepath.Join(filepath.Dir(l.path), localUsersFile), b, 0o600)
}

// ScramCredential implements CredentialStore.
func (l *Local) ScramCredential(user, mechanism string) (auth.ScramCredential, bool, error) {
	l.usersMu.Lock()
	defer l.usersMu.Unlock()
	if err := l.loadUsersLocked(); err != nil {
		return auth.ScramCredential{}, false, err
	}
	c, ok := l.users[user][mechanism]
	if !ok {
		return auth.ScramCredential{}, false, nil
	}
	return cloneCred(c), true, nil
}

// Users implements CredentialStore.
func (l *Local) Users() ([]UserCredentials, error) {
	l.usersMu.Lock()
	defer l.usersMu.Unlock()
	if err := l.loadUsersLocked(); err != nil {
		return nil, err
	}
	out := make([]UserCredentials, 0, len(l.users))
	for name, mechs := range l.users {
		u := UserCredentials{Name: name, Scram: map[string]auth.ScramCredential{}}
		for m, c := range mechs {
			u.Scram[m] = cloneCred(c)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PutScramCredential implements CredentialStore.
func (l *Local) PutScramCredential(user, mechanism string, cred auth.ScramCredential) error {
	l.usersMu.Lock()
	defer l.usersMu.Unlock()
	if err := l.loadUsersLocked(); err != nil {
		return err
	}
	mechs := l.users[user]
	old, had := mechs[mechanism]
	if mechs == nil {
		mechs = map[string]auth.ScramCredential{}
		l.users[user] = mechs
	}
	mechs[mechanism] = cloneCred(cred)
	if err := l.persistUsersLocked(); err != nil {
		if had {
			mechs[mechanism] = old
		} else {
			delete(mechs, mechanism)
			if len(mechs) == 0 {
				delete(l.users, user)
			}
		}
		return err
	}
	return nil
}

// DeleteScramCredential implements CredentialStore.
func (l *Local) DeleteScramCredential(user, mechanism string) error {
	l.usersMu.Lock()
	defer l.usersMu.Unlock()
	if err := l.loadUsersLocked(); err != nil {
		return err
	}
	old, ok := l.users[user][mechanism]
	if !ok {
		return ErrUnknownUser
	}
	delete(l.users[user], mechanism)
	if len(l.users[user]) == 0 {
		delete(l.users, user)
	}
	if err := l.persistUsersLocked(); err != nil {
		if l.users[user] == nil {
			l.users[user] = map[string]auth.ScramCredential{}
		}
		l.users[user][mechanism] = old
		return err
	}
	return nil
}
