# sgde: the targets a contributor and CI use. `make demo` and `make test` are the two that
# matter; README.md starts with them.

GO                  ?= go
BIN                 := bin/sgde
# staticcheck is run from the module proxy at a pinned version (no global install needed).
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME            ?= 30s

# Tools the tests need that Go does not provide, as COMMAND:DEBIAN_PACKAGE pairs. `make deps`
# installs the missing ones with apt-get when running as root and says what to install
# otherwise. Add yours here (npm tools: see NPM_TOOLS).
DEBIAN_TOOLS        ?= wasm-validate:wabt redis-server:redis-server
# npm packages tests need, as COMMAND:PACKAGE@VERSION pairs, installed globally when missing.
NPM_TOOLS           ?=

.PHONY: all build test test-long bench lint demo deps fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sgde

deps:
	@missing=""; \
	for pair in $(DEBIAN_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "deps: installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "deps: missing Debian packages:$$missing (install them: sudo apt-get install$$missing)" >&2; exit 1; \
		fi; \
	fi
	@for pair in $(NPM_TOOLS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		if ! command -v $$cmd >/dev/null 2>&1; then \
			echo "deps: installing npm package $$pkg"; npm install -g --no-fund --no-audit $$pkg || exit 1; \
		fi; \
	done

# go test -json piped through internal/testsum: one line per package as it finishes, the output
# of failing tests, tests slower than 10 s, and a heartbeat naming the running tests after 30 s of
# quiet (plain `go test ./...` buffers a package's output until it ends). Its closing line is a
# go test verdict (`ok` or `FAIL`).
TESTSUM             := $(GO) run ./internal/testsum --

# Packages tested without -race, except their concurrency tests (RACE_TESTS), which run with it;
# every other package runs entirely with -race. These are the packages whose own code starts no
# goroutines and shares no memory beyond what their RACE_TESTS exercise, and whose tests spend
# their time compiling and running WebAssembly or whole compiles, which the race detector slows
# ~10x and cannot see into (wazero's compiler, guest code): the sandbox and its passes, the
# compiler and its library/experiment/suite drivers, the student simulator (statistical sweeps;
# its server's concurrency is in its RACE_TESTS), and cmd/sgde, whose end-to-end tests run what
# runtime and internal/serve test under -race in their own packages (cmd/sgde's serve tests
# match RACE_TESTS). docs/RATIONALE.md ("make test: ten minutes") has the figures.
# They run first and heaviest first: the modules they compile land in the run's shared wazero
# cache, where the -race packages (runtime, internal/serve) find them instead of compiling them
# under -race.
NORACE_PKGS         ?= ./cmd/sgde ./sandbox ./compiler ./sandbox/internal/preinit ./sandbox/internal/rewrite \
                       ./compiler/library ./compiler/experiment ./compiler/suite ./internal/simulator
RACE_TESTS          ?= Hammer|Concurren|Cancel|Close|Parallel|Serve
# The -race packages with the longest tests, started first so that they are not the last ones
# running on one core at the end of the step.
RACE_FIRST          ?= ./internal/serve ./runtime

# One scratch directory for the whole run, shared by every test binary (internal/testcache:
# built modules, wazero compilation caches), removed when the recipe ends however it ends. A
# failing step does not stop the later ones (as go test goes on after a failing package); the
# recipe fails at the end.
define with_test_cache
cache=$$(mktemp -d "$${TMPDIR:-/tmp}/sgde-test-cache-XXXXXX") || exit 1; \
trap 'chmod -R u+w "$$cache" 2>/dev/null; rm -rf "$$cache"' EXIT INT TERM; \
export SGDE_TEST_CACHE="$$cache"; fail=0;
endef

# `make test` must finish in 10 minutes from a fresh clone on a 2-core machine (docs/BENCHMARKS.md
# has the measured figure). A test that takes longer than about 10 s there skips itself unless
# SGDE_TEST_LONG=1 (internal/testlong.Skip); `make test-long` sets it and runs everything.
test: deps
	@$(with_test_cache) \
	cgo=0; if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC | cut -d' ' -f1)" >/dev/null 2>&1; then cgo=1; fi; \
	( nice -n 19 $(GO) build -race ./... && if [ $$cgo = 1 ]; then nice -n 19 $(GO) build -tags wasmtime ./...; fi ) >/dev/null 2>&1 & prebuild=$$!; \
	echo "== go vet ./... (through internal/testsum, for its heartbeat: a cold cache compiles every dependency; meanwhile, at nice 19 until the -race step, the -race and wasmtime builds of the later steps)"; \
	$(TESTSUM) $(GO) vet ./... || fail=1; \
	echo "== go test (no -race): $(NORACE_PKGS), but their $(RACE_TESTS) tests"; \
	$(TESTSUM) $(GO) test -json -timeout 30m -skip '$(RACE_TESTS)' $(NORACE_PKGS) || fail=1; \
	wait $$prebuild; \
	if [ $$cgo = 1 ]; then \
		echo "== in parallel with the -race steps, lines prefixed [wasmtime]: go test -tags wasmtime (sandbox: wasmtime engine + differential; cmd/sgde: --engine), -race for $(RACE_TESTS)"; \
		{ ( wfail=0; \
			$(TESTSUM) $(GO) vet -tags wasmtime ./sandbox ./cmd/sgde || wfail=1; \
			$(TESTSUM) $(GO) test -json -timeout 30m -tags wasmtime -run 'Wasmtime|WASI|Differential|Engine' -skip '$(RACE_TESTS)' ./sandbox ./cmd/sgde || wfail=1; \
			$(TESTSUM) $(GO) test -json -race -timeout 30m -tags wasmtime -run 'Wasmtime.*($(RACE_TESTS))' ./sandbox || wfail=1; \
			echo $$wfail > "$$cache/wasmtime.status" ) 2>&1 | awk '{ print "[wasmtime] " $$0; fflush() }'; } & wasmtime=$$!; \
	else \
		echo "test: cgo is unavailable (no C compiler): skipping the wasmtime engine and the differential suite"; \
	fi; \
	echo "== go test -race: every other package ($(RACE_FIRST) first: the longest), and the $(RACE_TESTS) tests of $(NORACE_PKGS)"; \
	race_pkgs=$$({ $(GO) list $(RACE_FIRST); { $(GO) list $(NORACE_PKGS) $(RACE_FIRST); $(GO) list ./...; } | sort | uniq -u; }); \
	$(TESTSUM) $(GO) test -json -race -timeout 30m $$race_pkgs || fail=1; \
	race_test_pkgs=$$(for d in $(NORACE_PKGS); do if grep -qE '^func Test[A-Za-z0-9_]*($(RACE_TESTS))' $$d/*_test.go; then echo $$d; fi; done); \
	$(TESTSUM) $(GO) test -json -race -timeout 30m -run '$(RACE_TESTS)' $$race_test_pkgs || fail=1; \
	if [ $$cgo = 1 ]; then \
		wait $$wasmtime; \
		if [ "$$(cat "$$cache/wasmtime.status" 2>/dev/null)" != 0 ]; then fail=1; printf 'FAIL\tmake test: the wasmtime step failed ([wasmtime] lines above)\n'; fi; \
	fi; \
	if [ "$$fail" != 0 ]; then printf 'FAIL\tmake test: a step failed (FAIL lines above)\n'; exit 1; fi

# Everything `make test` runs plus the exhaustive suites it skips (SGDE_TEST_LONG=1): the
# WebAssembly spec testsuite, fuzz seed corpora in full, the full GSM-Hard set, the 1,000-run
# hostile survival test, the big hammer loops. Without -race: these check results, not
# concurrency, and wazero compiles ~10x slower under the race detector. Expect an hour or more.
test-long: deps
	@$(TESTSUM) $(GO) vet ./...
	@$(with_test_cache) export SGDE_TEST_LONG=1; \
	$(TESTSUM) $(GO) test -json -timeout 180m ./... || fail=1; \
	if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC | cut -d' ' -f1)" >/dev/null 2>&1; then \
		$(TESTSUM) $(GO) test -json -timeout 180m -tags wasmtime ./sandbox ./cmd/sgde || fail=1; \
	else \
		echo "test-long: cgo is unavailable (no C compiler): skipping the wasmtime engine and the differential suite"; \
	fi; \
	if [ "$$fail" != 0 ]; then printf 'FAIL\tmake test-long: a step failed (FAIL lines above)\n'; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@# The wasmtime engine's files ship in a -tags wasmtime binary: lint them too (needs cgo).
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then \
		$(GO) vet -tags wasmtime ./sandbox/... ./internal/serve ./cmd/sgde && \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags wasmtime ./sandbox/... ./internal/serve ./cmd/sgde; \
	else echo "lint: cgo is unavailable: the wasmtime-tagged files were not linted"; fi

# Fuzz every parser and the WASM rewriter for FUZZTIME each (go test runs one fuzz target at a
# time). FuzzWASI needs the wasmtime tag: go test -tags wasmtime ./sandbox -fuzz '^FuzzWASI$$'.
fuzz:
	$(GO) test ./plans -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./plans -run '^$$' -fuzz '^FuzzParseOutput$$' -fuzztime $(FUZZTIME)
	$(GO) test ./runtime -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./runtime/metric -run '^$$' -fuzz '^FuzzNumeric$$' -fuzztime $(FUZZTIME)
	$(GO) test ./compiler -run '^$$' -fuzz '^FuzzReadItems$$' -fuzztime $(FUZZTIME)
	$(GO) test ./compiler/edit -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/serve -run '^$$' -fuzz '^FuzzParseTenants$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/simulator -run '^$$' -fuzz '^FuzzFind$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/simulator -run '^$$' -fuzz '^FuzzParseChatRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/wasmbin -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./wasm -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sandbox/internal/rewrite -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sandbox/internal/rewrite -run '^$$' -fuzz '^FuzzMeterEquivalence$$' -fuzztime $(FUZZTIME)
	$(GO) test ./wasm/guest -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./wasm/guest -run '^$$' -fuzz '^FuzzEncode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sandbox -run '^$$' -fuzz '^FuzzReadMemoryInfo$$' -fuzztime $(FUZZTIME)

# The demo is the main job: it validates the example plans, then compiles GSM-Hard with the
# offline library teacher against the in-process student simulator (the student is simulated:
# its accuracy says nothing about real models), prints the baselines table, writes the compiled
# plan and the HTML report to out/demo, and runs the compiled plan on two questions with traces.
demo: build
	@echo "== sgde validate: the example plans and their content digests"
	./$(BIN) validate testdata/plans/*.yaml
	@echo
	@echo "== sgde demo: compile GSM-Hard on the simulated student (out/demo)"
	./$(BIN) demo -o out/demo

clean:
	rm -rf bin out
