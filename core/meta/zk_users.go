package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/sluicemq/sluice/core/auth"
)

// SCRAM credentials live where Kafka keeps them in ZooKeeper mode:
// /config/users/<sanitized name> = {"version":1,"config":{"SCRAM-SHA-512":
// "salt=...,stored_key=...,server_key=...,iterations=4096"}}. They are read
// from ZooKeeper on every lookup (authentications are rare next to
// requests), so a change made through any broker applies at once.
const zkUsersPath = "/config/users"

// zkSanitizeUser encodes a user name for a znode name the way Kafka's
// Sanitizer does (URL encoding, "*" and spaces percent-encoded).
func zkSanitizeUser(name string) string {
	s := url.QueryEscape(name)
	return strings.NewReplacer("+", "%20", "~", "%7E").Replace(s)
}

func zkUnsanitizeUser(s string) string {
	if n, err := url.PathUnescape(s); err == nil {
		return n
	}
	return s
}

func zkUserPath(name string) string { return zkUsersPath + "/" + zkSanitizeUser(name) }

// zkEntityConfig is /config/users/<name> (Kafka's entity config layout).
type zkEntityConfig struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

// readUser returns the user's entity config and its znode version
// (-1 and an empty config when absent).
func (z *ZK) readUser(name string) (map[string]string, int32, error) {
	data, st, err := z.conn.Get(z.abs(zkUserPath(name)))
	if errors.Is(err, zk.ErrNoNode) {
		return map[string]string{}, -1, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("meta: read user %q: %w", name, err)
	}
	var c zkEntityConfig
	if len(data) > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, 0, fmt.Errorf("meta: user %q config: %w", name, err)
		}
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return c.Config, st.Version, nil
}

// ScramCredential implements CredentialStore.
func (z *ZK) ScramCredential(user, mechanism string) (auth.ScramCredential, bool, error) {
	cfg, _, err := z.readUser(user)
	if err != nil {
		return auth.ScramCredential{}, false, err
	}
	s, ok := cfg[mechanism]
	if !ok {
		return auth.ScramCredential{}, false, nil
	}
	c, err := ParseScramCredential(s)
	if err != nil {
		return auth.ScramCredential{}, false, fmt.Errorf("meta: user %q %s: %w", user, mechanism, err)
	}
	return c, true, nil
}

// Users implements CredentialStore.
func (z *ZK) Users() ([]UserCredentials, error) {
	names, _, err := z.conn.Children(z.abs(zkUsersPath))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("meta: list users: %w", err)
	}
	var out []UserCredentials
	for _, n := range names {
		name := zkUnsanitizeUser(n)
		cfg, _, err := z.readUser(name)
		if err != nil {
			return nil, err
		}
		u := UserCredentials{Name: name, Scram: map[string]auth.ScramCredential{}}
		for mech, s := range cfg {
			if _, ok := auth.ScramMechanismByName(mech); !ok {
				continue // quotas and other user configs share the node
			}
			c, err := ParseScramCredential(s)
			if err != nil {
				return nil, fmt.Errorf("meta: user %q %s: %w", name, mech, err)
			}
			u.Scram[mech] = c
		}
		if len(u.Scram) > 0 {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// updateUser applies fn to the user's config with compare-and-set,
// retrying lost races.
func (z *ZK) updateUser(name string, fn func(cfg map[string]string) error) error {
	if err := z.createIfAbsent(z.abs(zkUsersPath), nil); err != nil {
		return err
	}
	path := z.abs(zkUserPath(name))
	for attempt := 0; attempt < 10; attempt++ {
		cfg, version, err := z.readUser(name)
		if err != nil {
			return err
		}
		if err := fn(cfg); err != nil {
			return err
		}
		data := mustJSON(zkEntityConfig{Version: 1, Config: cfg})
		if version < 0 {
			_, err = z.create(path, data, 0)
			if errors.Is(err, zk.ErrNodeExists) {
				continue
			}
		} else {
			_, err = z.conn.Set(path, data, version)
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("meta: write user %q: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("meta: write user %q: %w", name, ErrBadVersion)
}

// PutScramCredential implements CredentialStore.
func (z *ZK) PutScramCredential(user, mechanism string, cred auth.ScramCredential) error {
	return z.updateUser(user, func(cfg map[string]string) error {
		cfg[mechanism] = FormatScramCredential(cred)
		return nil
	})
}

// DeleteScramCredential implements CredentialStore. The user's node stays
// (possibly with an empty config), as Kafka leaves it.
func (z *ZK) DeleteScramCredential(user, mechanism string) error {
	return z.updateUser(user, func(cfg map[string]string) error {
		if _, ok := cfg[mechanism]; !ok {
			return ErrUnknownUser
		}
		delete(cfg, mechanism)
		return nil
	})
}
