package console

import (
	"net/http"

	"github.com/sluicemq/sluice/core/auth"
)

// AuthorizeFunc decides whether the caller of r may do op on a resource:
// the admin guard's Authorize (core/auth/httpauth), which asks the one
// authorizer about the principal the guard authenticated.
type AuthorizeFunc func(r *http.Request, op auth.Operation, rt auth.ResourceType, name string) bool

// SetAuthorizer makes the API check, besides the guard's Describe/Alter
// on the Cluster, what Kafka would check for the same action by the same
// principal: the console's own Kafka client runs as the node, so without
// this a principal allowed only to describe the cluster could read every
// topic's messages or move any group's offsets. nil (the default, for a
// console without a guard) allows all. Call before serving.
func (c *Console) SetAuthorizer(fn AuthorizeFunc) { c.authorize = fn }

// may answers 403 and returns false unless the caller may do op on the
// resource.
func (c *Console) may(w http.ResponseWriter, r *http.Request, op auth.Operation, rt auth.ResourceType, name string) bool {
	if c.authorize == nil || c.authorize(r, op, rt, name) {
		return true
	}
	writeError(w, http.StatusForbidden, principalOf(r)+" is not authorized to "+opWord(op)+" "+resWord(rt)+" "+name)
	return false
}

func opWord(op auth.Operation) string {
	switch op {
	case auth.OpRead:
		return "read"
	case auth.OpCreate:
		return "create"
	case auth.OpDelete:
		return "delete"
	case auth.OpAlter:
		return "alter"
	case auth.OpAlterConfigs:
		return "alter the configs of"
	}
	return "describe"
}

func resWord(rt auth.ResourceType) string {
	switch rt {
	case auth.ResGroup:
		return "group"
	case auth.ResCluster:
		return "the cluster"
	}
	return "topic"
}
