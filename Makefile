# jifen — build, test, run, bench.
#
#   make            build build/jifen (optimised, with debug info)
#   make test       install what is missing, build, run every test
#                   (unit tests plain and under ASan+UBSan, API tests,
#                   then the store/ledger suites again on PostgreSQL)
#   make test-pg    only the PostgreSQL pass (a throwaway cluster)
#   make run        install what is missing, build, start on 127.0.0.1:8080
#   make bench      benchmarks with their baselines, printed side by side
#                   (ledger, HTTP on SQLite, HTTP on PostgreSQL vs pgbench)
#
# Two build trees: build/ (-O2) and build/san/ (-O1, AddressSanitizer and
# UndefinedBehaviorSanitizer, aborting on the first report).

CC      ?= cc
PKGS    := icu-i18n icu-uc sqlite3 jansson libcrypto libpq
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wno-format-nonliteral
BASEFLAGS := -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Isrc $(WARN) -pthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
H2O_LIBS   = -lh2o-evloop -lssl -lcrypto -lz
LIBS       = $(PKG_LIBS) $(H2O_LIBS) -lm -pthread

OPT_release := -O2 -g
OPT_san     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

LIB_SRC  := $(sort $(wildcard src/util/*.c src/engine/*.c src/store/*.c src/http/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

# $(call objs,TREE,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

REL := build
SAN := build/san

all: $(REL)/jifen

define tree
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASEFLAGS) $$(OPT_$(2)) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

$(1)/libjifen.a: $$(call objs,$(1),$$(LIB_SRC))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^

$(1)/jifen: $$(call objs,$(1),$$(CLI_SRC)) $(1)/libjifen.a
	$$(CC) $$(OPT_$(2)) -o $$@ $$^ $$(LIBS)

$(1)/unit-tests: $$(call objs,$(1),$$(TEST_SRC)) $(1)/libjifen.a
	$$(CC) $$(OPT_$(2)) -o $$@ $$^ $$(LIBS) -lcriterion

-include $$(patsubst %.o,%.d,$$(call objs,$(1),$$(LIB_SRC) $$(CLI_SRC) $$(TEST_SRC) $$(BENCH_SRC)))
endef

$(eval $(call tree,$(REL),release))
$(eval $(call tree,$(SAN),san))

# The OpenAPI document is embedded by .incbin: rebuild when it changes.
$(call objs,$(REL),src/http/openapi.c) $(call objs,$(SAN),src/http/openapi.c): docs/openapi.json

$(REL)/bench-ledger: $(call objs,$(REL),bench/bench_ledger.c) $(REL)/libjifen.a
	$(CC) $(OPT_release) -o $@ $^ $(LIBS)

deps:
	@scripts/deps.sh

# Unit tests: Criterion, two workers (the CI machine has two cores).
CRITERION_FLAGS ?= --jobs 2
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

test: deps
	$(MAKE) --no-print-directory $(REL)/jifen $(REL)/unit-tests $(SAN)/jifen $(SAN)/unit-tests
	@echo "== unit tests (release build)"
	JIFEN_BIN=$(CURDIR)/$(REL)/jifen $(REL)/unit-tests $(CRITERION_FLAGS)
	@echo "== unit tests (AddressSanitizer + UndefinedBehaviorSanitizer; model test at 25,000 steps a run)"
	JIFEN_BIN=$(CURDIR)/$(SAN)/jifen JIFEN_MODEL_STEPS=25000 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/unit/lsan.supp $(SAN)/unit-tests $(CRITERION_FLAGS)
	@echo "== fuzz smoke: condition language (libFuzzer, fixed seed)"
	$(MAKE) --no-print-directory fuzz-expr-smoke
	@echo "== fuzz smoke: the fast JSON reader against jansson (libFuzzer, fixed seed)"
	$(MAKE) --no-print-directory fuzz-json-smoke
	@set -e; if [ -d tests/api ] && ls tests/api/*.test.mjs >/dev/null 2>&1; then \
	  echo "== API tests (release build)"; \
	  JIFEN_BIN=$(CURDIR)/$(REL)/jifen node --test --test-concurrency=2 tests/api/; \
	  echo "== API tests (AddressSanitizer + UndefinedBehaviorSanitizer server)"; \
	  JIFEN_BIN=$(CURDIR)/$(SAN)/jifen node --test --test-concurrency=2 tests/api/; \
	fi
	$(MAKE) --no-print-directory test-pg

# The PostgreSQL pass: the store conformance, ledger, refund, limits, model
# and crash suites again, each test on a fresh database of a throwaway
# PostgreSQL 15 cluster (scripts/pg-test.sh: temporary directory, Unix socket
# only, fsync on), plus the multi-server tests of tests/unit/test_pg.c.  The
# cluster is stopped whatever happens; its state file is per run, so passes
# started by several people in one work tree do not meet.  Left out: the
# tamper suite and one ledger_expiry test, which edit rows with SQLite's SQL
# (jf_sqlite_exec_raw).  Then the API tests that need PostgreSQL on the same
# cluster.  The model test runs PG_MODEL_STEPS operations per
# policy here (100,000 take about two minutes on PostgreSQL; the full count
# runs on SQLite).
PG_TESTS := @(store|batch|ledger|ledger_expiry|refund|limits|model|crash|pg|events)/!(jobs_and_verify_cover_more_tenants_than_a_page)
PG_MODEL_STEPS ?= 10000
# The black-box API tests that need PostgreSQL (they skip without
# JIFEN_TEST_PG_URL, so the SQLite API pass above lists them as skipped).
# The outage test starts a cluster of its own: it stops PostgreSQL.
PG_API_TESTS := $(sort $(wildcard tests/api/pg*.test.mjs))

test-pg: $(REL)/jifen $(REL)/unit-tests
	@echo "== unit tests on PostgreSQL 15 (release build; model test $(PG_MODEL_STEPS) steps per policy)"
	@export JIFEN_PG_STATE="$(CURDIR)/build/pg-test.$$$$.state"; \
	trap 'scripts/pg-test.sh stop' EXIT INT TERM; \
	url=$$(scripts/pg-test.sh start) || exit 1; \
	JIFEN_TEST_STORE=postgres JIFEN_TEST_PG_URL="$$url" JIFEN_MODEL_STEPS=$(PG_MODEL_STEPS) \
	  JIFEN_PG_SCRIPT="$(CURDIR)/scripts/pg-test.sh" JIFEN_BIN="$(CURDIR)/$(REL)/jifen" \
	  $(REL)/unit-tests $(CRITERION_FLAGS) --filter '$(PG_TESTS)' || exit 1; \
	echo "== API tests on PostgreSQL 15 (release build: one, two and four servers on one database; PostgreSQL stopped under load)"; \
	JIFEN_TEST_PG_URL="$$url" JIFEN_PG_SCRIPT="$(CURDIR)/scripts/pg-test.sh" JIFEN_BIN="$(CURDIR)/$(REL)/jifen" \
	  node --test --test-concurrency=2 $(PG_API_TESTS)

unit: $(REL)/unit-tests
	JIFEN_BIN=$(CURDIR)/$(REL)/jifen $(REL)/unit-tests $(CRITERION_FLAGS)

run: deps $(REL)/jifen
	@mkdir -p data
	$(REL)/jifen serve --db data/jifen.db --listen 127.0.0.1:8080 --demo

# make bench BENCH_LEDGER_ARGS="--members 200000" to shrink the ledger benchmark.
bench: $(REL)/jifen $(REL)/bench-ledger
	@scripts/deps.sh --bench
	$(REL)/bench-ledger $(BENCH_LEDGER_ARGS)
	bench/http_bench.sh
	JIFEN_BIN=$(REL)/jifen bench/pg_bench.sh

# Fuzzing (libFuzzer), built with clang from the sources each harness needs,
# not from the gcc-built libjifen.a: fuzz-expr, the rule condition language
# (tests/fuzz/fuzz_expr.c); fuzz-json, the fast JSON reader of request bodies
# against jansson (tests/fuzz/fuzz_json.c).  fuzz-NAME-smoke runs briefly
# with a fixed seed from a fresh corpus directory (plus the committed seeds
# in tests/fuzz/corpus/NAME); fuzz-NAME runs until stopped and keeps what it
# finds.
FUZZ_CC        ?= clang
FUZZ_FLAGS     := -std=c17 -D_GNU_SOURCE -Isrc $(WARN) -g -O1 -fno-omit-frame-pointer \
                  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_expr_SRC   := tests/fuzz/fuzz_expr.c src/engine/expr.c src/util/errors.c
FUZZ_expr_DEPS  := src/engine/expr.h src/util/errors.h src/util/tz.h
FUZZ_expr_ARGS  := -max_len=4200 -dict=tests/fuzz/expr.dict
FUZZ_expr_SMOKE := -runs=200000 -max_total_time=20
FUZZ_json_SRC   := tests/fuzz/fuzz_json.c src/util/json_fast.c
FUZZ_json_DEPS  := src/util/json_fast.h
FUZZ_json_LIBS  := -ljansson
FUZZ_json_ARGS  := -max_len=512 -dict=tests/fuzz/json.dict
FUZZ_json_SMOKE := -runs=300000 -max_total_time=15

define fuzz_rules
$(REL)/fuzz-$(1): $$(FUZZ_$(1)_SRC) $$(FUZZ_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_FLAGS) -o $$@ $$(FUZZ_$(1)_SRC) $$(FUZZ_$(1)_LIBS)

fuzz-$(1)-smoke: $(REL)/fuzz-$(1)
	rm -rf $(REL)/fuzz/$(1)-smoke && mkdir -p $(REL)/fuzz/$(1)-smoke
	$(REL)/fuzz-$(1) $$(FUZZ_$(1)_ARGS) -seed=1 $$(FUZZ_$(1)_SMOKE) -print_final_stats=1 \
	  $(REL)/fuzz/$(1)-smoke tests/fuzz/corpus/$(1)

fuzz-$(1): $(REL)/fuzz-$(1)
	@mkdir -p $(REL)/fuzz/$(1)
	$(REL)/fuzz-$(1) $$(FUZZ_$(1)_ARGS) $(REL)/fuzz/$(1) tests/fuzz/corpus/$(1)
endef
$(eval $(call fuzz_rules,expr))
$(eval $(call fuzz_rules,json))

clean:
	rm -rf build

.PHONY: all deps test test-pg unit run bench clean fuzz-expr-smoke fuzz-expr fuzz-json-smoke fuzz-json
