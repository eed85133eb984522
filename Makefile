# Sluice — build, run, test, bench.
# `make run` and `make test` do all set-up on a fresh machine.
GO        ?= go
BIN       := bin/sluice
GOFLAGS   ?=
TEST_TIMEOUT ?= 14m

.PHONY: all build run test test-deps bench lint examples clean fuzz

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/sluice

# A single-node broker with the embedded default metadata store; data in ./data.
run: build
	./$(BIN) serve --data-dir ./data

# Installs what the tests drive, only when absent: kcat, kafka-python,
# Chromium, rsyslog, wrk, wabt (the WAT plugin) and ZooKeeper, all Debian.
test-deps:
	bash scripts/install-test-deps.sh
	bash scripts/install-bridge-test-deps.sh
	bash scripts/install-plugin-test-deps.sh
	bash scripts/install-zk-test-deps.sh

# Builds the example plugins (Go -> wasip1 reactors, WAT -> wasm) into bin/plugins.
examples:
	bash scripts/build-examples.sh bin/plugins

test: test-deps build lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# Go native fuzz targets, as package:Target; one line per package so
# branches adding targets merge cleanly. `go test` runs their committed
# seed corpora (testdata/fuzz) as unit tests; `make fuzz` explores each for
# FUZZ_TIME and stops at the first failure (its input is saved under
# testdata/fuzz: commit it with the fix).
FUZZ_TIME ?= 30s
FUZZ_TARGETS += ./bridge:FuzzDecodeV2Records ./bridge:FuzzArrayRecords ./bridge:FuzzNDJSON ./bridge:FuzzParseBulk ./bridge:FuzzParsePositions
FUZZ_TARGETS += ./wasm:FuzzInstrument

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZ_TIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) $$pkg; \
	done

bench: build
	$(GO) run ./cmd/sluice-bench
	$(GO) test -run '^$$' -bench BenchmarkAuthorize -benchtime 1s ./core/acl

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
