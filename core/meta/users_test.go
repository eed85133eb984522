package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
)

// exerciseCredentialStore checks put/get/list/delete on any store.
func exerciseCredentialStore(t *testing.T, s CredentialStore) {
	t.Helper()
	c512, _ := auth.ScramSHA512.NewCredential("pw", 4096)
	c256, _ := auth.ScramSHA256.NewCredential("pw", 8192)
	if err := s.PutScramCredential("alice", "SCRAM-SHA-512", c512); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScramCredential("alice", "SCRAM-SHA-256", c256); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScramCredential("b ob*", "SCRAM-SHA-512", c512); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.ScramCredential("alice", "SCRAM-SHA-256")
	if err != nil || !ok || got.Iterations != 8192 || !bytes.Equal(got.StoredKey, c256.StoredKey) || !bytes.Equal(got.Salt, c256.Salt) || !bytes.Equal(got.ServerKey, c256.ServerKey) {
		t.Fatalf("ScramCredential = %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.ScramCredential("carol", "SCRAM-SHA-512"); ok || err != nil {
		t.Fatalf("unknown user: ok=%v err=%v", ok, err)
	}
	users, err := s.Users()
	if err != nil || len(users) != 2 || users[0].Name != "alice" || len(users[0].Scram) != 2 || users[1].Name != "b ob*" {
		t.Fatalf("Users = %+v %v", users, err)
	}
	if !(auth.StoreVerifier{Store: s}).VerifyPassword("alice", "pw") {
		t.Fatal("VerifyPassword(alice, pw) = false")
	}
	if err := s.DeleteScramCredential("alice", "SCRAM-SHA-256"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteScramCredential("alice", "SCRAM-SHA-256"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.DeleteScramCredential("b ob*", "SCRAM-SHA-512"); err != nil {
		t.Fatal(err)
	}
	users, _ = s.Users()
	if len(users) != 1 || users[0].Name != "alice" || len(users[0].Scram) != 1 {
		t.Fatalf("after deletes: %+v", users)
	}
}

func TestLocalCredentials(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, Broker{ID: 0, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	exerciseCredentialStore(t, l)
	// Persisted, 0600, and survives a reopen.
	st, err := os.Stat(filepath.Join(dir, "users.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users.json: %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "users.json"))
	if bytes.Contains(b, []byte(`"pw"`)) {
		t.Fatal("users.json holds the password")
	}
	l2, err := OpenLocal(dir, Broker{ID: 0, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	if !(auth.StoreVerifier{Store: l2}).VerifyPassword("alice", "pw") {
		t.Fatal("reopened store lost alice")
	}
}

func TestZKCredentials(t *testing.T) {
	t.Parallel()
	connect := testConnect(t)
	a := openTestZK(t, connect, 1, ZKOptions{})
	exerciseCredentialStore(t, a)
	// Kafka's layout: /config/users/<name> {"version":1,"config":{...}}.
	data, _, err := a.conn.Get(a.abs("/config/users/alice"))
	if err != nil {
		t.Fatal(err)
	}
	var c zkEntityConfig
	if err := json.Unmarshal(data, &c); err != nil || c.Version != 1 {
		t.Fatalf("node = %s (%v)", data, err)
	}
	if _, err := ParseScramCredential(c.Config["SCRAM-SHA-512"]); err != nil {
		t.Fatalf("SCRAM-SHA-512 entry %q: %v", c.Config["SCRAM-SHA-512"], err)
	}
	// Another broker sees it at once.
	b := openTestZK(t, connect, 2, ZKOptions{})
	if !(auth.StoreVerifier{Store: b}).VerifyPassword("alice", "pw") {
		t.Fatal("broker 2 cannot verify alice")
	}
}
