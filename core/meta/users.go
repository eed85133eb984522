package meta

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/core/auth"
)

// Sentinel errors of credential stores.
var (
	// ErrUnknownUser: the user has no credentials (for that mechanism).
	ErrUnknownUser = errors.New("meta: unknown user or credential")
)

// UserCredentials is one user's SCRAM credentials by mechanism name
// ("SCRAM-SHA-512").
type UserCredentials struct {
	Name  string
	Scram map[string]auth.ScramCredential
}

// CredentialStore keeps SCRAM credentials (salted keys, never passwords).
// Both the embedded and the ZooKeeper store implement it; it is a separate
// interface so that Store stays about topics and brokers.
type CredentialStore interface {
	// ScramCredential implements auth.CredentialLookup.
	ScramCredential(user, mechanism string) (auth.ScramCredential, bool, error)
	// Users lists every user with at least one credential, by name.
	Users() ([]UserCredentials, error)
	// PutScramCredential creates or replaces user's credential for mechanism.
	PutScramCredential(user, mechanism string, cred auth.ScramCredential) error
	// DeleteScramCredential removes it; ErrUnknownUser when absent. A user
	// left without credentials disappears.
	DeleteScramCredential(user, mechanism string) error
}

var (
	_ CredentialStore = (*Local)(nil)
	_ CredentialStore = (*ZK)(nil)
)

func cloneCred(c auth.ScramCredential) auth.ScramCredential {
	return auth.ScramCredential{
		Salt:       append([]byte(nil), c.Salt...),
		StoredKey:  append([]byte(nil), c.StoredKey...),
		ServerKey:  append([]byte(nil), c.ServerKey...),
		Iterations: c.Iterations,
	}
}

// FormatScramCredential renders a credential the way Kafka stores it in
// ZooKeeper: "salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=N".
func FormatScramCredential(c auth.ScramCredential) string {
	b64 := base64.StdEncoding.EncodeToString
	return "salt=" + b64(c.Salt) + ",stored_key=" + b64(c.StoredKey) + ",server_key=" + b64(c.ServerKey) + ",iterations=" + strconv.Itoa(c.Iterations)
}

// ParseScramCredential parses FormatScramCredential's form.
func ParseScramCredential(s string) (auth.ScramCredential, error) {
	var c auth.ScramCredential
	seen := 0
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return c, fmt.Errorf("%w: scram credential field %q", ErrInvalid, kv)
		}
		var err error
		switch k {
		case "salt":
			c.Salt, err = base64.StdEncoding.DecodeString(v)
		case "stored_key":
			c.StoredKey, err = base64.StdEncoding.DecodeString(v)
		case "server_key":
			c.ServerKey, err = base64.StdEncoding.DecodeString(v)
		case "iterations":
			c.Iterations, err = strconv.Atoi(v)
		default:
			continue
		}
		if err != nil {
			return c, fmt.Errorf("%w: scram credential %s: %v", ErrInvalid, k, err)
		}
		seen++
	}
	if seen != 4 || c.Iterations <= 0 {
		return c, fmt.Errorf("%w: incomplete scram credential", ErrInvalid)
	}
	return c, nil
}
