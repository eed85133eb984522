package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type memCreds map[string]map[string]ScramCredential

func (m memCreds) ScramCredential(user, mech string) (ScramCredential, bool, error) {
	c, ok := m[user][mech]
	return c, ok, nil
}

// rfc7677Creds holds RFC 7677's SCRAM-SHA-256 credential: user "user",
// password "pencil".
func rfc7677Creds(t testing.TB) memCreds {
	t.Helper()
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := ScramSHA256.SaltedPassword("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return memCreds{"user": {"SCRAM-SHA-256": ScramSHA256.CredentialFromSalted(salted, salt, 4096)}}
}

// RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user",
// password "pencil".
func TestScramSHA256RFC7677Vector(t *testing.T) {
	creds := rfc7677Creds(t)
	s := NewScramServer(ScramSHA256, creds)
	s.nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

	resp, done, err := s.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || done {
		t.Fatalf("first: %v done=%v", err, done)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(resp) != want {
		t.Fatalf("server-first = %q, want %q", resp, want)
	}
	resp, done, err = s.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("final: %v done=%v", err, done)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(resp) != want {
		t.Fatalf("server-final = %q, want %q", resp, want)
	}
	if s.User() != "user" {
		t.Fatalf("user = %q", s.User())
	}

	// The same exchange with a tampered proof fails.
	s = NewScramServer(ScramSHA256, creds)
	s.nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	s.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if _, _, err := s.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("tampered proof: err = %v, want ErrAuthFailed", err)
	}
}

// franz-go's SCRAM client (a real, independent implementation) against our
// server, both mechanisms, right and wrong passwords, unknown user.
func TestScramAgainstFranzGoClient(t *testing.T) {
	for _, m := range ScramMechanisms {
		t.Run(m.Name, func(t *testing.T) {
			cred, err := m.NewCredential("s3cret,=pw", 4096)
			if err != nil {
				t.Fatal(err)
			}
			creds := memCreds{"al,i=ce": {m.Name: cred}}
			run := func(user, pass string) error {
				a := scram.Auth{User: user, Pass: pass}
				var cl = scram.Sha512(func(context.Context) (scram.Auth, error) { return a, nil })
				if m == ScramSHA256 {
					cl = scram.Sha256(func(context.Context) (scram.Auth, error) { return a, nil })
				}
				sess, msg, err := cl.Authenticate(context.Background(), "host")
				if err != nil {
					return err
				}
				srv := NewScramServer(m, creds)
				for {
					resp, done, err := srv.Step(msg)
					if err != nil {
						return err
					}
					cdone, next, err := sess.Challenge(resp)
					if err != nil {
						return err
					}
					if done != cdone {
						t.Fatalf("server done=%v, client done=%v", done, cdone)
					}
					if done {
						if srv.User() != user {
							t.Fatalf("user = %q, want %q", srv.User(), user)
						}
						return nil
					}
					msg = next
				}
			}
			if err := run("al,i=ce", "s3cret,=pw"); err != nil {
				t.Fatalf("good password: %v", err)
			}
			if err := run("al,i=ce", "wrong"); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("wrong password: %v", err)
			}
			if err := run("nobody", "s3cret,=pw"); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("unknown user: %v", err)
			}
		})
	}
}

func TestStoreVerifierAndPlain(t *testing.T) {
	c512, _ := ScramSHA512.NewCredential("pw", 4096)
	c256, _ := ScramSHA256.NewCredential("pw256", 4096)
	v := StoreVerifier{Store: memCreds{"a": {"SCRAM-SHA-512": c512}, "b": {"SCRAM-SHA-256": c256}}}
	cases := []struct {
		user, pass string
		want       bool
	}{{"a", "pw", true}, {"a", "pw2", false}, {"b", "pw256", true}, {"b", "pw", false}, {"c", "pw", false}, {"", "", false}}
	for _, c := range cases {
		if got := v.VerifyPassword(c.user, c.pass); got != c.want {
			t.Errorf("VerifyPassword(%q, %q) = %v, want %v", c.user, c.pass, got, c.want)
		}
	}
	if u, p, err := ParsePlain([]byte("\x00alice\x00pw")); err != nil || u != "alice" || p != "pw" {
		t.Fatalf("ParsePlain = %q %q %v", u, p, err)
	}
	if _, _, err := ParsePlain([]byte("bob\x00alice\x00pw")); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("impersonation: %v", err)
	}
	if _, _, err := ParsePlain([]byte("alice")); !errors.Is(err, ErrSASLProtocol) {
		t.Fatalf("malformed: %v", err)
	}
	if _, err := ScramSHA512.NewCredential("x", 100); err == nil {
		t.Fatal("NewCredential accepted 100 iterations")
	}
}
