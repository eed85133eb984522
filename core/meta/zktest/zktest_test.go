package zktest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestStartServesAndStops(t *testing.T) {
	begin := time.Now()
	s := Start(t)
	t.Logf("zookeeper ready on %s after %v", s.Addr, time.Since(begin).Round(time.Millisecond))
	if host, _, err := net.SplitHostPort(s.Addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("address %q: want a 127.0.0.1 port", s.Addr)
	}

	c := s.Client(t)
	if _, err := c.Create("/probe", []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	data, stat, err := c.Get("/probe")
	if err != nil || string(data) != "hello" || stat.Version != 0 {
		t.Fatalf("Get = %q, %+v, %v", data, stat, err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	default:
		t.Fatal("process still running after Stop")
	}
	if conn, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", s.Addr)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestZooCfgKeepsServerPrivate(t *testing.T) {
	cfg := zooCfg("/tmp/data", 12345, []string{"enforce.auth.enabled=true"})
	for _, want := range []string{
		"enforce.auth.enabled=true\n",
		"clientPort=12345\n",
		"clientPortAddress=127.0.0.1\n",
		"admin.enableServer=false\n",
		"4lw.commands.whitelist=\n",
		"dataDir=/tmp/data\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("zoo.cfg lacks %q:\n%s", want, cfg)
		}
	}
}
