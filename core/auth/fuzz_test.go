package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// The SASL messages are the first bytes an unauthenticated client sends on
// a SASL listener: they must fail with a typed error, never panic, and
// never authenticate without the password.

// FuzzScramExchange runs a two-message SCRAM-SHA-256 exchange against the
// RFC 7677 credential with the RFC's server nonce. Seeded with the RFC's
// exchange, the one way to succeed.
func FuzzScramExchange(f *testing.F) {
	creds := rfc7677Creds(f)
	const rfcFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	const rfcFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	f.Add(rfcFirst, rfcFinal)
	f.Add("n,a=user,n=user,r=x", "c=bixhPXVzZXIs,r=x%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA")
	f.Add("y,,n=us=2Cer,r=abc", "c=eSws,r=abc,p=")
	f.Add("n,,n=nobody,r=r", "c=biws,r=r%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("p=tls-unique,,n=user,r=r", "")
	f.Add("n,,n=u=,r=r,m=ext", ",p=,p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		s := NewScramServer(ScramSHA256, creds)
		s.nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		resp, done, err := s.Step([]byte(first))
		if done {
			t.Fatal("done after the first message")
		}
		if err != nil {
			if !errors.Is(err, ErrSASLProtocol) && !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("first: untyped error %v", err)
			}
			return
		}
		if !strings.HasPrefix(string(resp), "r=") || !strings.Contains(string(resp), s.nonce+",s=") {
			t.Fatalf("server-first %q", resp)
		}
		resp, done, err = s.Step([]byte(final))
		if err != nil {
			if done || !errors.Is(err, ErrSASLProtocol) && !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("final: done=%v err %v", done, err)
			}
			return
		}
		if !done || s.User() != "user" || !strings.HasPrefix(string(resp), "v=") {
			t.Fatalf("final accepted: done=%v user %q resp %q", done, s.User(), resp)
		}
		// The proof covers both messages (the gs2 header too, through
		// c=): only the RFC's messages carry a valid one. The proof
		// itself may be spelled differently (base64 decoding skips
		// newlines), not its bytes.
		at := strings.LastIndex(final, ",p=")
		proof, _ := base64.StdEncoding.DecodeString(final[at+3:])
		rfcAt := strings.LastIndex(rfcFinal, ",p=")
		rfcProof, _ := base64.StdEncoding.DecodeString(rfcFinal[rfcAt+3:])
		if first != rfcFirst || final[:at] != rfcFinal[:rfcAt] || !bytes.Equal(proof, rfcProof) {
			t.Fatalf("authenticated with first %q final %q", first, final)
		}
		if _, _, err := s.Step([]byte(final)); !errors.Is(err, ErrSASLProtocol) {
			t.Fatalf("a third message: %v", err)
		}
	})
}

// FuzzParsePlain: a PLAIN message parses only as authzid NUL user NUL
// password with a user and an authzid that is empty or the user.
func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00secret"))
	f.Add([]byte("alice\x00alice\x00secret"))
	f.Add([]byte("bob\x00alice\x00secret"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("alice\x00secret"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		user, pass, err := ParsePlain(msg)
		if err != nil {
			if !errors.Is(err, ErrSASLProtocol) && !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if user == "" || strings.ContainsRune(user, 0) || strings.ContainsRune(pass, 0) {
			t.Fatalf("parsed user %q password %q", user, pass)
		}
		plain := []byte("\x00" + user + "\x00" + pass)
		withAuthz := []byte(user + "\x00" + user + "\x00" + pass)
		if !bytes.Equal(msg, plain) && !bytes.Equal(msg, withAuthz) {
			t.Fatalf("%q parsed as user %q password %q", msg, user, pass)
		}
	})
}
