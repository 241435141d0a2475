# paycons -- PGXS build
#
# The install script paycons--$(EXTVERSION).sql is assembled from the ordered
# fragments in sql/install/ (one per concern); sql/*.sql are pg_regress inputs
# only.  `make test` and `make demo` are the two entry points for people; the
# PGXS targets (all, install, installcheck) work as usual.

EXTENSION   = paycons
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" paycons.control)
MODULE_big  = paycons
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built  = paycons--$(EXTVERSION).sql
DATA        = $(wildcard sql/upgrade/paycons--*--*.sql) $(wildcard sql/released/paycons--*.sql)
PG_CPPFLAGS = -I$(srcdir)/src

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

.PHONY: test demo bench soak
test:
	bash test/run.sh

demo:
	bash test/demo.sh

bench:
	bash bench/run.sh

# issue 13: a bounded soak under mixed load (not part of `make test`);
# SOAK_MINUTES=n changes its length (default 10).  See doc/reliability.md.
soak:
	bash test/soak.sh
