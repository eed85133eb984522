package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// AlterUserScramCredentials: version 0. Upserts and deletes SCRAM
// credentials; the client sends a salt and the salted password, the
// broker stores StoredKey and ServerKey derived from them. Needs Alter on
// the cluster. Per user, as Kafka answers: UNACCEPTABLE_CREDENTIAL (empty
// name, iterations outside 4096–16384, empty salt or password),
// UNSUPPORTED_SASL_MECHANISM, DUPLICATE_RESOURCE (a user/mechanism pair
// twice), RESOURCE_NOT_FOUND (deleting an absent credential).
func init() { register(51, 0, 0, (*conn).handleAlterUserScram) }

func (c *conn) handleAlterUserScram(h *header, req *kmsg.AlterUserSCRAMCredentialsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type userResult struct {
		code int16
		msg  string
	}
	results := map[string]*userResult{}
	var order []string
	result := func(name string) *userResult {
		if r, ok := results[name]; ok {
			return r
		}
		r := &userResult{}
		results[name] = r
		order = append(order, name)
		return r
	}
	fail := func(name string, code int16, msg string) {
		if r := result(name); r.code == 0 {
			r.code, r.msg = code, msg
		}
	}
	for _, d := range req.Deletions {
		result(d.Name)
	}
	for _, u := range req.Upsertions {
		result(u.Name)
	}
	if !c.authorized(auth.OpAlter, auth.ResCluster, auth.ClusterResource) {
		for _, name := range order {
			fail(name, kerr.ClusterAuthorizationFailed.Code, "")
		}
		return c.ready(h, c.alterScramResponse(resp, order, func(n string) (int16, string) { return results[n].code, results[n].msg }))
	}
	store := c.s.cfg.Credentials

	// Validate everything first, as Kafka does.
	type pair struct {
		name string
		mech int8
	}
	pairs := map[pair]int{}
	for _, d := range req.Deletions {
		pairs[pair{d.Name, d.Mechanism}]++
	}
	for _, u := range req.Upsertions {
		pairs[pair{u.Name, u.Mechanism}]++
	}
	for p, n := range pairs {
		if n > 1 {
			fail(p.name, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		}
	}
	check := func(name string, mech int8) bool {
		if name == "" {
			fail(name, kerr.UnacceptableCredential.Code, "Username must not be empty")
			return false
		}
		if _, ok := auth.ScramMechanismByType(mech); !ok {
			fail(name, kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", mech))
			return false
		}
		return true
	}
	for _, d := range req.Deletions {
		check(d.Name, d.Mechanism)
	}
	for _, u := range req.Upsertions {
		if !check(u.Name, u.Mechanism) {
			continue
		}
		switch {
		case u.Iterations < auth.MinScramIterations:
			fail(u.Name, kerr.UnacceptableCredential.Code, fmt.Sprintf("Too few iterations: %d, the minimum is %d", u.Iterations, auth.MinScramIterations))
		case u.Iterations > auth.MaxScramIterations:
			fail(u.Name, kerr.UnacceptableCredential.Code, fmt.Sprintf("Too many iterations: %d, the maximum is %d", u.Iterations, auth.MaxScramIterations))
		case len(u.Salt) == 0 || len(u.SaltedPassword) == 0:
			fail(u.Name, kerr.UnacceptableCredential.Code, "Salt and salted password must not be empty")
		}
	}
	if store == nil {
		for _, name := range order {
			fail(name, kerr.UnknownServerError.Code, "this broker has no credential store")
		}
	}
	for _, d := range req.Deletions {
		if results[d.Name].code != 0 {
			continue
		}
		m, _ := auth.ScramMechanismByType(d.Mechanism)
		err := store.DeleteScramCredential(d.Name, m.Name)
		switch {
		case errors.Is(err, meta.ErrUnknownUser):
			fail(d.Name, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
		case err != nil:
			c.logger.Warn("delete scram credential", "user", d.Name, "err", err)
			fail(d.Name, kerr.UnknownServerError.Code, err.Error())
		default:
			c.logger.Info("SCRAM credential deleted", "user", d.Name, "mechanism", m.Name, "by", c.principal)
		}
	}
	for _, u := range req.Upsertions {
		if results[u.Name].code != 0 {
			continue
		}
		m, _ := auth.ScramMechanismByType(u.Mechanism)
		cred := m.CredentialFromSalted(u.SaltedPassword, u.Salt, int(u.Iterations))
		if err := store.PutScramCredential(u.Name, m.Name, cred); err != nil {
			c.logger.Warn("put scram credential", "user", u.Name, "err", err)
			fail(u.Name, kerr.UnknownServerError.Code, err.Error())
			continue
		}
		c.logger.Info("SCRAM credential set", "user", u.Name, "mechanism", m.Name, "iterations", u.Iterations, "by", c.principal)
	}
	return c.ready(h, c.alterScramResponse(resp, order, func(n string) (int16, string) { return results[n].code, results[n].msg }))
}

func (c *conn) alterScramResponse(resp *kmsg.AlterUserSCRAMCredentialsResponse, order []string, get func(string) (int16, string)) *kmsg.AlterUserSCRAMCredentialsResponse {
	for _, name := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		code, msg := get(name)
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
