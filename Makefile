# Sluice — build, run, test, bench.
# `make run` and `make test` do all set-up on a fresh machine.
GO        ?= go
BIN       := bin/sluice
GOFLAGS   ?=
TEST_TIMEOUT ?= 20m

.PHONY: all build run test test-race test-deps bench fuzz soak lint examples clean chaos kgo-suite

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/sluice

# A single-node broker with the embedded default metadata store; data in ./data.
run: build
	./$(BIN) serve --data-dir ./data

# Installs what the tests drive, only when absent: kcat, kafka-python, Burrow,
# Chromium, rsyslog, wrk, wabt (the WAT plugin), ZooKeeper and the Rust
# toolchain for wasm32-wasi (the Rust SDK), all Debian; node and npm
# (Debian) with clients/js's locked npm dependencies.
test-deps:
	bash scripts/install-test-deps.sh
	bash scripts/install-rust.sh
	bash scripts/install-bridge-test-deps.sh
	bash scripts/install-plugin-test-deps.sh
	bash scripts/install-zk-test-deps.sh
	bash scripts/install-node.sh
	bash scripts/install-assemblyscript.sh

# Builds the example plugins (Go -> wasip1 reactors, WAT -> wasm) into
# bin/plugins, the Rust ones into bin/plugins/rust and the AssemblyScript
# ones (examples/plugins-as) into bin/plugins/as.
examples:
	bash scripts/install-node.sh
	bash scripts/build-examples.sh bin/plugins
	bash scripts/install-rust.sh
	bash scripts/build-rust-examples.sh bin/plugins
	bash scripts/install-assemblyscript.sh
	sh examples/plugins-as/build.sh bin/plugins/as

# Every package's tests, then the core and node packages under -race
# (scripts/test.sh: the ZooKeeper cluster tests run beside the rest).
test: test-deps build lint
	GO=$(GO) TEST_TIMEOUT=$(TEST_TIMEOUT) bash scripts/test.sh

# The core packages and the node wiring again under the race detector
# (needs cgo: gcc, which test-deps installs). core/itest/cluster is left out: its brokers are
# separate processes built without -race, so it would only repeat its
# minutes (chaos included) for the test harness's sake.
RACE_PKGS = $(shell $(GO) list ./core/... ./node/... | grep -v '/core/itest/cluster$$')
test-race:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

# Randomized fault run against a 3-broker cluster (not in CI; `make test`
# runs the same test for 90 s). CHAOS_MINUTES sets the length, CHAOS_SEED
# replays a schedule; CHAOS_SESSION_TIMEOUT and CHAOS_LAG_MAX tune the
# brokers (defaults 4s and 10s).
CHAOS_MINUTES ?= 10
chaos: test-deps build
	CHAOS_MINUTES=$(CHAOS_MINUTES) CHAOS_SEED=$(CHAOS_SEED) $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 4h ./core/itest/cluster/

# franz-go's own kgo test suite against a 3-broker cluster (KGO_TEST_RF=3),
# alone, with franz-go's default 500,000 records per ETL chain (`make test`
# runs it with 100,000). KGO_SUITE_RUN=pattern narrows it.
KGO_TEST_RECORDS ?= 500000
kgo-suite: test-deps build
	KGO_TEST_RECORDS=$(KGO_TEST_RECORDS) KGO_SUITE_RUN='$(KGO_SUITE_RUN)' $(GO) test -count=1 -v -run '^TestKgoSuite$$' -timeout 60m ./core/itest/cluster/

bench: build
	$(GO) run ./cmd/sluice-bench
	$(GO) test -run '^$$' -bench BenchmarkAuthorize -benchtime 1s ./core/acl

# Runs each Go fuzz target for FUZZTIME (default 30s); their seed corpora
# already run as unit tests in `make test`.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

# Soaks the real broker for SOAK_MINUTES (default 30): kgo, sarama and HTTP
# producers, consumers, hostile requests and SIGTERM/SIGKILL restarts, then
# a loss/duplicate check of every acknowledged record (docs/benchmarks.md).
# Not part of `make test` (a 20-second version of it is).
SOAK_MINUTES ?= 30
SOAK_SEED    ?= 0
soak: build
	$(GO) run ./cmd/sluice-soak -sluice $(BIN) -duration $(SOAK_MINUTES)m -seed $(SOAK_SEED)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
