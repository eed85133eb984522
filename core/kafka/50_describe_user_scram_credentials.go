package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// DescribeUserScramCredentials: version 0. Lists users' SCRAM mechanisms
// and iteration counts (never salts or keys). Needs Describe on the
// cluster. A null or empty user list describes every user; an unknown user
// gets RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE.
func init() { register(50, 0, 0, (*conn).handleDescribeUserScram) }

func (c *conn) handleDescribeUserScram(h *header, req *kmsg.DescribeUserSCRAMCredentialsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !c.authorized(auth.OpDescribe, auth.ResCluster, auth.ClusterResource) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	store := c.s.cfg.Credentials
	if store == nil {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return c.ready(h, resp)
	}
	users, err := store.Users()
	if err != nil {
		c.logger.Warn("describe user scram credentials", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return c.ready(h, resp)
	}
	byName := make(map[string]map[string]auth.ScramCredential, len(users))
	for _, u := range users {
		byName[u.Name] = u.Scram
	}
	addResult := func(name string, code int16, msg string) {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User, r.ErrorCode = name, code
		if msg != "" {
			r.ErrorMessage = &msg
		}
		if code == 0 {
			mechs := byName[name]
			names := make([]string, 0, len(mechs))
			for m := range mechs {
				names = append(names, m)
			}
			sort.Strings(names)
			for _, m := range names {
				sm, ok := auth.ScramMechanismByName(m)
				if !ok {
					continue
				}
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = sm.Type, int32(mechs[m].Iterations)
				r.CredentialInfos = append(r.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	if len(req.Users) == 0 {
		for _, u := range users {
			addResult(u.Name, 0, "")
		}
		return c.ready(h, resp)
	}
	count := make(map[string]int, len(req.Users))
	for _, u := range req.Users {
		count[u.Name]++
	}
	seen := make(map[string]bool, len(req.Users))
	for _, u := range req.Users {
		if seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		switch {
		case count[u.Name] > 1:
			addResult(u.Name, kerr.DuplicateResource.Code, "Cannot describe SCRAM credentials for the same user twice in a single request: "+u.Name)
		case byName[u.Name] == nil:
			addResult(u.Name, kerr.ResourceNotFound.Code, "Attempt to describe a user credential that does not exist: "+u.Name)
		default:
			addResult(u.Name, 0, "")
		}
	}
	return c.ready(h, resp)
}
