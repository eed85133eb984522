package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Authentication failures. ErrAuthFailed is what a client learns about any
// bad credential (unknown user and wrong password look the same, so the
// broker does not reveal which users exist); ErrSASLProtocol is a
// malformed exchange.
var (
	ErrAuthFailed   = errors.New("authentication failed: invalid credentials")
	ErrSASLProtocol = errors.New("malformed SASL message")
)

// ScramServer is the broker's side of one SCRAM exchange: two client
// messages, two server messages.
type ScramServer struct {
	mech   *ScramMechanism
	lookup CredentialLookup
	// nonce overrides the random server nonce (RFC test vectors only).
	nonce string

	step            int
	user            string
	cred            ScramCredential
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	fullNonce       string
	unknownUser     bool
}

// NewScramServer starts an exchange for mechanism m.
func NewScramServer(m *ScramMechanism, lookup CredentialLookup) *ScramServer {
	return &ScramServer{mech: m, lookup: lookup}
}

// User is the authenticated user name once Step reported done.
func (s *ScramServer) User() string { return s.user }

// Step consumes a client message and returns the server's answer; done is
// true after the final message was verified. Any error ends the exchange.
func (s *ScramServer) Step(msg []byte) (resp []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		resp, err := s.first(string(msg))
		return resp, false, err
	case 1:
		s.step = 2
		resp, err := s.final(string(msg))
		return resp, err == nil, err
	default:
		return nil, false, fmt.Errorf("%w: exchange already complete", ErrSASLProtocol)
	}
}

func (s *ScramServer) first(msg string) ([]byte, error) {
	// gs2-header: "n,," or "y,," (no channel binding) with an optional
	// authzid "a=name"; channel binding ("p=") is not offered.
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: client-first-message", ErrSASLProtocol)
	}
	if parts[0] != "n" && parts[0] != "y" {
		return nil, fmt.Errorf("%w: channel binding not supported", ErrSASLProtocol)
	}
	s.gs2Header = parts[0] + "," + parts[1] + ","
	s.clientFirstBare = parts[2]
	var user, cnonce string
	for _, attr := range strings.Split(parts[2], ",") {
		switch {
		case strings.HasPrefix(attr, "n="):
			u, err := decodeSaslName(attr[2:])
			if err != nil {
				return nil, err
			}
			user = u
		case strings.HasPrefix(attr, "r="):
			cnonce = attr[2:]
		case strings.HasPrefix(attr, "m="):
			return nil, fmt.Errorf("%w: mandatory extension", ErrSASLProtocol)
		}
	}
	if user == "" || cnonce == "" {
		return nil, fmt.Errorf("%w: client-first-message needs n= and r=", ErrSASLProtocol)
	}
	if authz := strings.TrimPrefix(parts[1], "a="); parts[1] != "" {
		if a, err := decodeSaslName(authz); err != nil || a != user {
			return nil, fmt.Errorf("%w: authorization id must equal the user", ErrAuthFailed)
		}
	}
	s.user = user
	cred, ok, err := s.lookup.ScramCredential(user, s.mech.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Go on with a made-up credential so that an unknown user fails
		// at the proof, like a wrong password.
		s.unknownUser = true
		cred = ScramCredential{Salt: s.fakeSalt(user), Iterations: MinScramIterations}
	}
	s.cred = cred
	snonce := s.nonce
	if snonce == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		snonce = base64.RawStdEncoding.EncodeToString(b)
	}
	s.fullNonce = cnonce + snonce
	s.serverFirst = "r=" + s.fullNonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return []byte(s.serverFirst), nil
}

// fakeSalt is a stable per-name salt for unknown users (stable so two
// attempts do not reveal the user is unknown by differing salts).
func (s *ScramServer) fakeSalt(user string) []byte {
	return s.mech.hmac([]byte("sluice-unknown-user"), []byte(user))[:16]
}

func (s *ScramServer) final(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, fmt.Errorf("%w: client-final-message without proof", ErrSASLProtocol)
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return nil, fmt.Errorf("%w: proof encoding", ErrSASLProtocol)
	}
	var cb, nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			cb = attr[2:]
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		}
	}
	if cb != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, fmt.Errorf("%w: channel binding mismatch", ErrSASLProtocol)
	}
	// Kafka only checks that the nonce ends with the one it sent: some
	// librdkafka versions send the client nonce twice. The proof covers
	// the message as sent either way.
	if !strings.HasSuffix(nonce, s.fullNonce) {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrSASLProtocol)
	}
	if s.unknownUser || len(proof) != s.mech.size() || len(s.cred.StoredKey) != s.mech.size() {
		return nil, ErrAuthFailed
	}
	authMessage := []byte(s.clientFirstBare + "," + s.serverFirst + "," + withoutProof)
	clientSig := s.mech.hmac(s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ clientSig[j]
	}
	if !hmac.Equal(s.mech.h(clientKey), s.cred.StoredKey) {
		return nil, ErrAuthFailed
	}
	serverSig := s.mech.hmac(s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '='.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in user name", ErrSASLProtocol)
		}
		i += 2
	}
	return b.String(), nil
}

// ParsePlain splits a SASL/PLAIN message (RFC 4616):
// [authzid] NUL authcid NUL passwd. A non-empty authzid must equal the
// user: Sluice has no impersonation.
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", fmt.Errorf("%w: PLAIN message", ErrSASLProtocol)
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return "", "", fmt.Errorf("%w: authorization id must equal the user", ErrAuthFailed)
	}
	return string(parts[1]), string(parts[2]), nil
}
