# paycons -- PGXS build
#
# The install script paycons--$(EXTVERSION).sql is assembled from the ordered
# fragments in sql/install/ (one per concern); sql/*.sql are pg_regress inputs
# only.  `make test` and `make demo` are the two entry points for people; the
# PGXS targets (all, install, installcheck) work as usual.

EXTENSION   = paycons
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" paycons.control)
MODULE_big  = paycons
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c) $(wildcard src/channels/*.c)))
DATA_built  = paycons--$(EXTVERSION).sql
DATA        = $(wildcard sql/upgrade/paycons--*--*.sql) $(wildcard sql/released/paycons--*.sql)
# PAYCONS_VERSION: the schema version this library serves (schema_version.c)
PG_CPPFLAGS = -I$(srcdir)/src -DPAYCONS_VERSION='"$(EXTVERSION)"'
# channel protocols: RSA and AES-256-GCM with OpenSSL's libcrypto (libssl-dev)
SHLIB_LINK  += -lcrypto

REGRESS      = $(sort $(notdir $(basename $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.
ISOLATION      = $(sort $(notdir $(basename $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=paycons
PROVE_TESTS = test/t/*.pl
# The TAP tests initdb clusters of their own, which PostgreSQL refuses to do
# as root: `make installcheck` runs them for an ordinary user only (`make
# test` runs them as the postgres OS user).
ifneq ($(shell id -u),0)
TAP_TESTS   = 1
endif

INSTALL_FRAGMENTS = $(sort $(wildcard sql/install/*.sql))

PG_CONFIG ?= pg_config
# Track header dependencies (as a PostgreSQL built with --enable-depend
# does): a change of a header such as spi_plans.h rebuilds every object that
# includes it, never a library of objects that disagree on a struct.
override autodepend = yes
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

paycons--$(EXTVERSION).sql: $(INSTALL_FRAGMENTS)
	cat $^ > $@

# The test build: every warning is an error.  `make` and `make install`
# build without -Werror (a newer compiler's new warning must not stop a
# user's install); `make test` (test/run.sh) and `make test-build` use these.
#   -Wno-unused-parameter  PostgreSQL 15's own headers trip it (static inline
#       functions in storage/bufpage.h and lib/ilist.h ignore a parameter),
#       and every V1 function takes PG_FUNCTION_ARGS whether it reads fcinfo
#       or not; core builds without it too.
TEST_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

.PHONY: test test-build print-test-cflags demo demo-screenshot bench fuzz fuzz-statement soak installcheck-tap-skipped
test:
	bash test/run.sh

test-build:
	$(MAKE) PG_CFLAGS="$(TEST_CFLAGS)" all

print-test-cflags:
	@echo '$(TEST_CFLAGS)'

ifeq ($(shell id -u),0)
installcheck: installcheck-tap-skipped
installcheck-tap-skipped:
	@echo 'NOTE: TAP tests (test/t/*.pl) skipped: they initdb clusters of their own, which PostgreSQL refuses as root.'
	@echo '      Run "make installcheck" as an ordinary user, or "make test" (runs them as the postgres OS user).'
endif

# Every libFuzzer target, test/fuzz/fuzz_*.c (clang; FUZZ_SECONDS per
# target, default 60; FUZZ_TARGETS="money statement" for some of them);
# not part of `make test`.  See test/fuzz/run.sh and doc/reliability.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/fuzz/run.sh $(FUZZ_TARGETS)

# `make demo ORDERS=100000 KEEP=1`: the knobs are read from the environment
# by test/demo.sh (ORDERS, RATE, PAY_WITHIN, GRACE, SCALE, SEED, KEEP)
demo:
	bash test/demo.sh

# headless Chromium renders demo-report/index.html to demo-report/screenshot.png
# (installs Debian's chromium; not part of make test)
demo-screenshot:
	bash test/demo/screenshot.sh

bench:
	bash bench/run.sh

# the statement parsers' target alone (an alias of FUZZ_TARGETS=statement)
fuzz-statement:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/fuzz/run.sh statement

# issue 13: a bounded soak under mixed load (not part of `make test`);
# SOAK_MINUTES=n changes its length (default 10).  See doc/reliability.md.
soak:
	bash test/soak.sh
