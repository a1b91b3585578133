# tests/tests.mk — build the C unit tests and run the whole TAP suite.
#
# Unit tests are C programs (tests/unit/*.c, using tests/unit/tap.h) linked
# against the relay's own objects; program and integration tests are Perl
# (tests/*/*.t, helpers in tests/lib). prove runs them all.

UNIT_SRCS  := $(wildcard $(TOP)/tests/unit/*.c)
UNIT_TESTS := $(patsubst $(TOP)/tests/unit/%.c,$(O)/tests/unit/%.t,$(UNIT_SRCS))
PROVE_DIRS ?= $(O)/tests/unit tests/relay
PROVE      ?= prove

$(O)/tests/unit/%.t: $(TOP)/tests/unit/%.c $(TOP)/tests/unit/tap.h $(RELAY_CORE_OBJS)
	$(call msg,CC,tests/unit/$*.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay -I$(TOP)/tests/unit \
		$(LDFLAGS_PIE) -o $@ $< $(RELAY_CORE_OBJS) $(RELAY_LIBS) -pthread

include $(TOP)/tests/helpers.mk

unit: $(UNIT_TESTS)
$(O)/tests/unit/tls_x509_test.t: $(TOP)/tests/tls/x509_craft.h
$(O)/tests/unit/yaml_test.t $(O)/tests/unit/json_test.t: $(TOP)/tests/unit/ydump.h

# The image tests (tests/image, boot under QEMU) run through check-image
# (image/image.mk), which skips them when their inputs have not changed
# since they last passed.
# fuzz-check (tests/fuzz/fuzz.mk) runs first: the corpora replayed, each
# harness fuzzed FUZZ_CHECK_SECONDS, one line per harness.
# The suite needs root (the relay's roles drop to their own users, tests
# make network namespaces): make check says so instead of skipping. prove
# runs verbose through tests/lib/tap-summary.pl, which shows failures and
# diagnostics and ends with the count of skipped tests and their reasons.
check: deps
	$(Q)[ "$$(id -u)" = 0 ] || { echo "make check: run it as root: the relay's roles drop to their own users and the tests create network namespaces" >&2; exit 1; }
	$(Q)$(MAKE) --no-print-directory relay unit
	$(Q)$(MAKE) --no-print-directory fuzz-check
	$(Q)cd $(TOP) && { MXGATE_OUT=$(O) MXGATE_TOP=$(TOP) \
		$(PROVE) -v -I tests/lib $(PROVE_FLAGS) $(PROVE_DIRS) 2>&1; \
		echo $$? >$(O)/.prove-status; } | $(TOP)/tests/lib/tap-summary.pl; \
		exit $$(cat $(O)/.prove-status)
	$(Q)$(MAKE) --no-print-directory $(CHECK_IMAGE)

# The fault tests at full size (make check runs them reduced): a minute
# of a flapping customer, 10,000 flood connections and 1,000 slowloris
# clients, five power cuts of the appliance under QEMU while mail is
# queued and three while configuration commits and logs rotate, 200 days of logs
# at 20,000 messages a day through the log retention. About 10 minutes;
# needs root.
faults: deps
	$(Q)[ "$$(id -u)" = 0 ] || { echo "make faults: run it as root" >&2; exit 1; }
	$(Q)$(MAKE) --no-print-directory relay unit image
	$(Q)cd $(TOP) && MXGATE_OUT=$(O) MXGATE_TOP=$(TOP) FLAP_SECONDS=60 \
		FLOOD_CONNS=10000 FLOOD_SLOW=1000 POWERCUT_CYCLES=5 \
		LOGDAYS_MSGS=20000 POWERCUT_ADMIN_CYCLES=3 \
		$(PROVE) -v -I tests/lib tests/relay/flapping.t \
		tests/relay/floods.t tests/image/powercut.t \
		tests/image/powercut_admin.t tests/image/logdays.t

.PHONY: unit faults
