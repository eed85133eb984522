package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
)

// SCRAM (RFC 5802, RFC 7677) as Kafka uses it: the broker stores, per user
// and mechanism, a random salt, an iteration count, StoredKey = H(ClientKey)
// and ServerKey, never the password. StoredKey lets the broker check a
// client's proof; ServerKey lets it prove to the client that it knows the
// credential.

// Iteration bounds Kafka enforces on AlterUserScramCredentials.
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
)

// ScramCredential is one user's stored credential for one mechanism.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// ScramMechanism is SCRAM-SHA-256 or SCRAM-SHA-512.
type ScramMechanism struct {
	// Name is the SASL mechanism name ("SCRAM-SHA-512").
	Name string
	// Type is Kafka's numeric mechanism in APIs 50/51 (1 = SHA-256, 2 = SHA-512).
	Type int8
	hash func() hash.Hash
}

// The SCRAM mechanisms Kafka (and Sluice) support.
var (
	ScramSHA256 = &ScramMechanism{Name: "SCRAM-SHA-256", Type: 1, hash: sha256.New}
	ScramSHA512 = &ScramMechanism{Name: "SCRAM-SHA-512", Type: 2, hash: sha512.New}
)

// ScramMechanisms lists them, strongest first.
var ScramMechanisms = []*ScramMechanism{ScramSHA512, ScramSHA256}

// ScramMechanismByName finds a mechanism by SASL name.
func ScramMechanismByName(name string) (*ScramMechanism, bool) {
	for _, m := range ScramMechanisms {
		if m.Name == name {
			return m, true
		}
	}
	return nil, false
}

// ScramMechanismByType finds a mechanism by Kafka's numeric type.
func ScramMechanismByType(t int8) (*ScramMechanism, bool) {
	for _, m := range ScramMechanisms {
		if m.Type == t {
			return m, true
		}
	}
	return nil, false
}

func (m *ScramMechanism) size() int { return m.hash().Size() }

func (m *ScramMechanism) hmac(key, msg []byte) []byte {
	h := hmac.New(m.hash, key)
	h.Write(msg)
	return h.Sum(nil)
}

func (m *ScramMechanism) h(b []byte) []byte {
	h := m.hash()
	h.Write(b)
	return h.Sum(nil)
}

// SaltedPassword is Hi(password, salt, iterations) (PBKDF2 with HMAC-H).
// SASLprep is not applied: like Kafka, passwords are used as given.
func (m *ScramMechanism) SaltedPassword(password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(m.hash, password, salt, iterations, m.size())
}

// CredentialFromSalted derives the stored credential from a salted
// password (what AlterUserScramCredentials sends).
func (m *ScramMechanism) CredentialFromSalted(salted, salt []byte, iterations int) ScramCredential {
	clientKey := m.hmac(salted, []byte("Client Key"))
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  m.h(clientKey),
		ServerKey:  m.hmac(salted, []byte("Server Key")),
		Iterations: iterations,
	}
}

// NewCredential makes a credential for password with a fresh random salt.
func (m *ScramMechanism) NewCredential(password string, iterations int) (ScramCredential, error) {
	if iterations < MinScramIterations {
		return ScramCredential{}, errors.New("auth: SCRAM iterations below 4096")
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	salted, err := m.SaltedPassword(password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return m.CredentialFromSalted(salted, salt, iterations), nil
}

// Verify reports whether password matches cred (constant time in the
// comparison; the PBKDF2 cost is the point).
func (m *ScramMechanism) Verify(cred ScramCredential, password string) bool {
	if cred.Iterations <= 0 || len(cred.StoredKey) != m.size() {
		return false
	}
	salted, err := m.SaltedPassword(password, cred.Salt, cred.Iterations)
	if err != nil {
		return false
	}
	got := m.CredentialFromSalted(salted, cred.Salt, cred.Iterations)
	return subtle.ConstantTimeCompare(got.StoredKey, cred.StoredKey) == 1
}

// CredentialLookup finds a user's stored SCRAM credential for a mechanism
// name; ok is false when the user has none for it.
type CredentialLookup interface {
	ScramCredential(user, mechanism string) (cred ScramCredential, ok bool, err error)
}

// StoreVerifier is a PasswordVerifier over stored SCRAM credentials (for
// SASL/PLAIN and HTTP Basic): it checks the password against the user's
// SCRAM-SHA-512 credential, or SCRAM-SHA-256 if that is all there is.
type StoreVerifier struct{ Store CredentialLookup }

// VerifyPassword implements PasswordVerifier.
func (v StoreVerifier) VerifyPassword(user, password string) bool {
	if v.Store == nil || user == "" {
		return false
	}
	for _, m := range ScramMechanisms {
		cred, ok, err := v.Store.ScramCredential(user, m.Name)
		if err != nil {
			return false
		}
		if ok {
			return m.Verify(cred, password)
		}
	}
	return false
}
