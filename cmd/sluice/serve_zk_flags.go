package main

import (
	"flag"

	"github.com/sluicemq/sluice/core/meta"
)

// zkSecurityFlags are serve's flags for the ZooKeeper session's security
// (docs/security.md, "ZooKeeper").
type zkSecurityFlags struct {
	authFile string
	setACL   bool
}

func (z *zkSecurityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&z.authFile, "zookeeper-auth-file", "", "authenticate to ZooKeeper with the digest credentials in `FILE` (one line \"user:password\"); every broker of a cluster uses the same")
	fs.BoolVar(&z.setACL, "zookeeper-set-acl", false, "create ZooKeeper nodes with secure ACLs (zookeeper.set.acl): all rights for the --zookeeper-auth-file identity, world read-only on brokers/topics/controller, none on credentials, ACLs and configs")
}

// settings validates the flags against --zookeeper (the connect string).
func (z *zkSecurityFlags) settings(connect string) (meta.ZKSecurity, error) {
	var sec meta.ZKSecurity
	if z.authFile == "" {
		if z.setACL {
			return sec, &invalidFlagError{"zookeeper-set-acl", "true", "needs --zookeeper-auth-file: the ACLs grant that identity, and nothing else could write the nodes"}
		}
		return sec, nil
	}
	if connect == "" {
		return sec, &invalidFlagError{"zookeeper-auth-file", z.authFile, "applies only with --zookeeper"}
	}
	digest, err := meta.LoadZKDigestFile(z.authFile)
	if err != nil {
		return sec, &invalidFlagError{"zookeeper-auth-file", z.authFile, err.Error()}
	}
	return meta.ZKSecurity{Digest: digest, SetACL: z.setACL}, nil
}
