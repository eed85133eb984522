package cluster_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKgoSuite runs franz-go's own kgo test suite (from the module cache)
// against a 3-broker cluster with KGO_TEST_RF=3 and reports its pass/fail
// counts; every test of the suite must pass. -short skips it; `make test`
// runs it with 100,000 records per ETL chain (about 90 s on 2 cores) and
// `make kgo-suite` with franz-go's default of 500,000 (about 3 minutes).
// KGO_TEST_RECORDS sets the count, KGO_SUITE_RUN narrows the suite with a
// -run pattern and KGO_SUITE_SKIP names tests to leave out.
func TestKgoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("franz-go's kgo suite takes minutes (skipped by -short)")
	}
	if out, err := exec.Command("go", "mod", "download", "github.com/twmb/franz-go").CombinedOutput(); err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/twmb/franz-go").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("locating franz-go: %v", err)
	}
	dir := filepath.Join(string(bytes.TrimSpace(out)), "pkg", "kgo")

	c := startCluster(t, 3)
	args := []string{"test", "-count=1", "-v", "-timeout", "40m"}
	if run := os.Getenv("KGO_SUITE_RUN"); run != "" {
		args = append(args, "-run", run)
	}
	// KGO_SUITE_SKIP names tests to leave out (-skip pattern; empty or
	// unset: run everything). TestTxnEtl was left out by default while
	// its "consumed too much" under load was open (issue 13: an abort
	// marker moved the last stable offset before the aborted-transaction
	// index entry existed; core/partition/txn.go); it runs again.
	skip := ""
	if s, ok := os.LookupEnv("KGO_SUITE_SKIP"); ok {
		skip = s
	}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	// Why 100,000 by default: the ETL chains (TestGroupETL, TestTxnEtl)
	// are most of the suite's time and grow with the record count, while
	// what they check (rebalances mid-stream, members leaving before
	// committing, transactional hand-offs) happens at any count; franz-go's
	// 500,000 stays one variable away for the long run.
	records := os.Getenv("KGO_TEST_RECORDS")
	if records == "" {
		records = "100000"
	}
	cmd.Env = append(os.Environ(), "KGO_SEEDS="+strings.Join(c.seeds(), ","), "KGO_TEST_RF=3", "KGO_TEST_RECORDS="+records, "GOFLAGS=-mod=mod")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	runErr := cmd.Run()
	if dir := os.Getenv("CLUSTER_LOG_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "kgo-suite.log"), buf.Bytes(), 0o644)
	}

	// Count top-level results ("--- PASS: TestX", not subtests).
	top := regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+)`)
	counts := map[string]int{}
	var failed []string
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := top.FindStringSubmatch(sc.Text()); m != nil {
			counts[m[1]]++
			if m[1] == "FAIL" {
				failed = append(failed, m[2])
			}
		}
	}
	t.Logf("kgo suite: %d passed, %d failed, %d skipped; failed: %v", counts["PASS"], counts["FAIL"], counts["SKIP"], failed)
	if runErr != nil {
		tail := buf.String()
		if len(tail) > 20000 {
			tail = tail[len(tail)-20000:]
		}
		t.Errorf("kgo suite: %v\n%s", runErr, tail)
	}
}
