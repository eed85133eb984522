package meta

import (
	"fmt"
	"net"
	"path"
	"strings"
)

// parseZKConnect splits a ZooKeeper connect string "host:port,host:port/chroot"
// into its servers and chroot ("" when absent). Like Kafka's
// zookeeper.connect, the chroot is given once, after the last server.
func parseZKConnect(s string) (servers []string, chroot string, err error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s, chroot = s[:i], s[i:]
		if clean := path.Clean(chroot); clean != chroot || clean == "/" {
			if clean == "/" && chroot == "/" {
				chroot = "" // "host:port/" means no chroot
			} else {
				return nil, "", fmt.Errorf("%w: zookeeper chroot %q must be a clean absolute path", ErrInvalid, chroot)
			}
		}
	}
	for _, hp := range strings.Split(s, ",") {
		hp = strings.TrimSpace(hp)
		if hp == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return nil, "", fmt.Errorf("%w: zookeeper server %q: %v", ErrInvalid, hp, err)
		}
		servers = append(servers, hp)
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("%w: no zookeeper servers in %q", ErrInvalid, s)
	}
	return servers, chroot, nil
}
