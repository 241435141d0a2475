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
PG_CPPFLAGS = -I$(srcdir)/src
# channel protocols: RSA and AES-256-GCM with OpenSSL's libcrypto (libssl-dev)
SHLIB_LINK  += -lcrypto

REGRESS      = $(sort $(notdir $(basename $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.
ISOLATION      = $(sort $(notdir $(basename $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=paycons
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

INSTALL_FRAGMENTS = $(sort $(wildcard sql/install/*.sql))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

paycons--$(EXTVERSION).sql: $(INSTALL_FRAGMENTS)
	cat $^ > $@

.PHONY: test demo bench fuzz fuzz-statement
test:
	bash test/run.sh

# libFuzzer targets of the channel parsers (clang; FUZZ_SECONDS per target,
# default 60); not part of `make test`
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/fuzz/run.sh

demo:
	bash test/demo.sh

bench:
	bash bench/run.sh

# libFuzzer target of the statement parsers (clang); FUZZ_SECONDS, default 60
fuzz-statement:
	bash test/fuzz/run_statement.sh $(FUZZ_SECONDS)
