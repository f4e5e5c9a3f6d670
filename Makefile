# lead_mgmt: PGXS build.
#
#   make && make install        build and install the extension
#   make installcheck           pg_regress + isolation against a running server
#   bash test/harness.sh test   every suite against a throwaway cluster
#   bash test/harness.sh demo   the demo
EXTENSION = lead_mgmt
# The version being built.  Its install script is generated from
# install/parts/; every released version's install script is frozen and
# committed (install/lead_mgmt--0.1.sql), like every upgrade script
# (install/lead_mgmt--X--Y.sql).  Releasing: commit the generated script
# of this version as it is, bump EXTVERSION (and default_version in
# lead_mgmt.control and the ignored file in .gitignore), and start
# install/lead_mgmt--OLD--NEW.sql.  A released script is never edited.
EXTVERSION = 0.2

MODULE_big = lead_mgmt
SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:.c=.o)
HEADERS = $(wildcard src/*.h)

# The install script of EXTVERSION is assembled from one part per concern,
# in this order.
INSTALL_PARTS = install/parts/core.sql install/parts/segments.sql install/parts/analytics.sql install/parts/assignment.sql install/parts/nurture.sql install/parts/nurture_queue.sql install/parts/security.sql
DATA_built = install/$(EXTENSION)--$(EXTVERSION).sql
# the frozen install scripts of released versions and every upgrade script
DATA = $(filter-out $(DATA_built),$(wildcard install/$(EXTENSION)--*.sql))

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)

PG_CFLAGS = -std=gnu99 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
ifdef WERROR
PG_CFLAGS += -Werror
endif

EXTRA_CLEAN = $(DATA_built) results/ regression.diffs regression.out output_iso/ tmp_check/

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Install the shared library under a temporary name, then rename it over
# the old one.  /usr/bin/install rewrites an existing file in place, and a
# backend that has the old library mapped (the test cluster of another
# run on this machine, a server in use) dies of SIGBUS when the pages
# change under it; after a rename it keeps the old file until it exits.
INSTALL_SHLIB = lm_install_shlib() { $(INSTALL_SHLIB_ENV) $(INSTALL) $(INSTALL_SHLIB_OPTS) $(INSTALL_STRIP_FLAG) "$$1" "$$2.new$$$$" && mv -f "$$2.new$$$$" "$$2"; }; lm_install_shlib

$(DATA_built): $(INSTALL_PARTS)
	cat $^ > $@

# PGXS does not track header dependencies: rebuild every object when any
# header changes (the headers define shared structs).
$(OBJS): $(HEADERS)
