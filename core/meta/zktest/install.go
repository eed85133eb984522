package zktest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotInstalled reports that java or the ZooKeeper jars are missing.
var ErrNotInstalled = errors.New("zktest: ZooKeeper not installed (run scripts/install-zk-test-deps.sh)")

// install is a runnable ZooKeeper: a java binary and the server classpath.
type install struct {
	java      string
	classpath string
}

// debianJar is where Debian 12's `zookeeper` package (via libzookeeper-java)
// puts the server; its manifest's Class-Path names every dependency jar.
const debianJar = "/usr/share/java/zookeeper.jar"

// debianLogBinding routes the server's slf4j logging to stderr (our log
// file); without a binding slf4j discards everything.
const debianLogBinding = "/usr/share/java/slf4j-simple.jar"

// locate finds java and ZooKeeper: $ZOOKEEPER_HOME (an Apache release
// tarball layout), /usr/share/zookeeper/lib (older Debian packages, which
// ship the jars there), then Debian 12's /usr/share/java/zookeeper.jar.
func locate() (install, error) {
	java, err := findJava()
	if err != nil {
		return install{}, err
	}
	var dirs []string
	if home := os.Getenv("ZOOKEEPER_HOME"); home != "" {
		dirs = append(dirs, home, filepath.Join(home, "lib"))
	}
	dirs = append(dirs, "/usr/share/zookeeper", "/usr/share/zookeeper/lib")
	var cp []string
	for _, d := range dirs {
		jars, _ := filepath.Glob(filepath.Join(d, "*.jar"))
		cp = append(cp, jars...)
	}
	if hasServerJar(cp) {
		return install{java: java, classpath: strings.Join(cp, string(os.PathListSeparator))}, nil
	}
	if _, err := os.Stat(debianJar); err == nil {
		cp = []string{debianJar}
		if _, err := os.Stat(debianLogBinding); err == nil {
			cp = append(cp, debianLogBinding)
		}
		return install{java: java, classpath: strings.Join(cp, string(os.PathListSeparator))}, nil
	}
	return install{}, fmt.Errorf("%w: no zookeeper jar in $ZOOKEEPER_HOME, /usr/share/zookeeper or %s", ErrNotInstalled, debianJar)
}

func hasServerJar(jars []string) bool {
	for _, j := range jars {
		b := filepath.Base(j)
		if strings.HasPrefix(b, "zookeeper-3") || b == "zookeeper.jar" {
			return true
		}
	}
	return false
}

func findJava() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		j := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(j); err == nil {
			return j, nil
		}
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: java: %v", ErrNotInstalled, err)
	}
	return j, nil
}
