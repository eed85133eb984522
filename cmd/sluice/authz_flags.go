package main

import (
	"flag"
	"strings"

	"github.com/sluicemq/sluice/core/acl"
	"github.com/sluicemq/sluice/core/auth"
)

// addAuthzFlags defines serve's authorization flags.
func addAuthzFlags(fs *flag.FlagSet, sf *serveFlags) {
	fs.StringVar(&sf.authorizer, "authorizer", "none", "Kafka port authorization: acl (Kafka's ACLs, kept in the metadata store; no matching ACL denies) or none (everything allowed)")
	fs.StringVar(&sf.superUsers, "super-users", "", "`PRINCIPALS` that bypass ACLs, comma-separated (User:admin,User:broker)")
}

// authzSettings validates --authorizer and --super-users.
func (sf *serveFlags) authzSettings() (string, []auth.Principal, error) {
	a := strings.ToLower(sf.authorizer)
	if a != "acl" && a != "none" {
		return "", nil, &invalidFlagError{"authorizer", sf.authorizer, "want acl or none"}
	}
	supers := acl.ParsePrincipals(sf.superUsers)
	for _, p := range supers {
		if i := strings.IndexByte(string(p), ':'); i <= 0 || i == len(p)-1 {
			return "", nil, &invalidFlagError{"super-users", sf.superUsers, "each principal is Type:name, e.g. User:admin"}
		}
	}
	return a, supers, nil
}
