# bench/bench.mk — `make bench`: mxgate against Postfix and OpenSMTPD,
# side by side on loopback, as ratios (docs/BENCHMARKS.md).
#
# Builds the relay (a failed build stops the bench: a table without
# mxgate measures nothing we ship), the load tool mxload (host cc + OpenSSL; never shipped),
# unpacks the pinned OpenSMTPD .deb beside the installed Postfix, and runs
# bench/bench.pl under a hard time limit. Everything is written under
# $(O)/bench; nothing in the source tree. Needs root.
#
#   BENCH_ROUNDS=N      interleaved rounds, medians reported (default 3)
#   BENCH_SCALE=F       message counts times F (default 1; 0.2 = quick look)
#   BENCH_WORKLOADS=..  only these: a20 a100 b c lat d d-ec hs hs-r idle e;
#                       and, only when named: q1k q10k q100k (the outage
#                       queue's cost curve), s1k s10k (sessions held),
#                       mb10k mb1m (mailbox lists), gate (the admission
#                       table), boot (out/image/mxgate.img: make image)
#   BENCH_SYSTEMS=..    subset of: direct mxgate postfix opensmtpd
#   BENCH_PORT_BASE=P   ports P..P+3 on 127.0.0.1 (default 24250)
#   BENCH_TIMEOUT=S     time budget of the measuring part (default 600 s)
#   BENCH_OPENSMTPD_BACKLOG=N  OpenSMTPD's listen backlog via bench/backlog.c
#                       (default 1024; 0 = the compiled-in 5, as shipped)

BENCH_MK := 1

BENCH_OUT      := $(O)/bench
BENCH_ROUNDS   ?= 3
BENCH_SCALE    ?= 1
BENCH_TIMEOUT  ?= 600
MXLOAD         := $(BENCH_OUT)/bin/mxload
GATEBENCH      := $(BENCH_OUT)/bin/gatebench
BACKLOG_SO     := $(BENCH_OUT)/bin/backlog.so
OPENSMTPD_DEB  := $(DL_DIR)/opensmtpd_6.8.0p2-4+b4_amd64.deb
OPENSMTPD_ROOT := $(BENCH_OUT)/opensmtpd

$(MXLOAD): $(TOP)/bench/mxload.c $(DEPS_STAMP)
	$(call msg,CC,bench/mxload.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)cc -O2 -Wall -Wextra -std=c11 -pthread -o $@ $< -lssl -lcrypto

# the admission table's own code (relay/gate.c), as the workers run it
$(GATEBENCH): $(TOP)/bench/gatebench.c $(RELAY_CORE_OBJS)
	$(call msg,CC,bench/gatebench.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay $(LDFLAGS_PIE) \
		-o $@ $< $(RELAY_CORE_OBJS) $(RELAY_LIBS) -pthread

$(BACKLOG_SO): $(TOP)/bench/backlog.c $(DEPS_STAMP)
	$(call msg,CC,bench/backlog.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)cc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

$(OPENSMTPD_ROOT)/.unpacked: $(OPENSMTPD_DEB) $(DEPS_STAMP)
	$(call msg,UNPACK,opensmtpd)
	$(Q)rm -rf $(OPENSMTPD_ROOT) && mkdir -p $(OPENSMTPD_ROOT)
	$(Q)dpkg-deb -x $< $(OPENSMTPD_ROOT)
	$(Q)touch $@

bench: deps
	$(Q)mkdir -p $(BENCH_OUT)
	$(Q)$(MAKE) --no-print-directory $(MXLOAD) $(BACKLOG_SO) \
		$(OPENSMTPD_ROOT)/.unpacked
	$(call msg,BUILD,relay)
	$(Q)if ! $(MAKE) --no-print-directory relay $(GATEBENCH) \
		>$(BENCH_OUT)/relay-build.log 2>&1; \
	then tail -20 $(BENCH_OUT)/relay-build.log >&2; \
	echo "bench: make relay failed (whole log: $(BENCH_OUT)/relay-build.log)" >&2; \
	exit 1; fi; why=; \
	cd $(TOP) && BENCH_OUT=$(BENCH_OUT) BENCH_ROUNDS=$(BENCH_ROUNDS) \
	BENCH_SCALE=$(BENCH_SCALE) BENCH_TIMEOUT=$(BENCH_TIMEOUT) \
	MXGATE=$(MXGATE) MXGATE_BUILD="$$why" MXLOAD=$(MXLOAD) \
	GATEBENCH=$(GATEBENCH) \
	OPENSMTPD_ROOT=$(OPENSMTPD_ROOT) BACKLOG_SO=$(BACKLOG_SO) \
	MXGATE_TOP=$(TOP) MXGATE_OUT=$(O) \
	timeout -k 10 $$(( $(BENCH_TIMEOUT) + 90 )) perl $(TOP)/bench/bench.pl

.PHONY: bench
