package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/sluicemq/sluice/internal/testkit/buildcache"
)

// SluiceBinaryEnv names an already built sluice binary to run instead of
// building one (CI builds it once for several packages).
// SLUICE_ITEST_BINARY, the older name, is honoured too.
const SluiceBinaryEnv = "SLUICE_BINARY"

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// SluiceBinary returns the path of the sluice binary process brokers run:
// $SLUICE_BINARY if set, else cmd/sluice built once per process (the go
// build cache makes a second test binary's build a link). RemoveBuilt
// deletes what was built.
func SluiceBinary() (string, error) {
	for _, env := range []string{SluiceBinaryEnv, "SLUICE_ITEST_BINARY"} {
		if bin := os.Getenv(env); bin != "" {
			return bin, nil
		}
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-testkit-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.path = dir, filepath.Join(dir, "sluice")
		const pkg = "github.com/sluicemq/sluice/cmd/sluice"
		build := func() error {
			cmd := exec.Command("go", "build", "-o", built.path, pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("testkit: building sluice: %v\n%s", err, out)
			}
			return nil
		}
		// Linking cmd/sluice takes seconds (15 s and more on a loaded
		// machine) in every test binary that runs processes: the shared
		// build cache keeps the binary of unchanged sources.
		key, err := buildcache.Key("", nil, pkg)
		if err != nil {
			built.err = build() // the build reports what is wrong
			return
		}
		built.err = buildcache.Build(key+".sluice", built.path, build)
	})
	return built.path, built.err
}

// RemoveBuilt deletes the binary SluiceBinary built, if any; Main calls
// it after the tests.
func RemoveBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Main runs a test package's tests (pass the *testing.M) and removes the
// built sluice binary afterwards; use it from TestMain:
//
//	func TestMain(m *testing.M) { testkit.Exit(m) }
func Main(m interface{ Run() int }) int {
	defer RemoveBuilt()
	return m.Run()
}

// Exit is os.Exit(Main(m)).
func Exit(m interface{ Run() int }) { os.Exit(Main(m)) }
