# tests/helpers.mk — the test-only programs, built from the relay's own
# objects under $(O)/tests/bin and never shipped. `make unit` builds them.
#
# MXGATE_HOOKS  the daemon with test hooks: its workers answer SIGUSR2 by
#               calling socket(), so tests/relay/jail.t proves the seccomp
#               filter kills them
# TLS_TOOL      tests/tls/tls_tool.c: a TLS echo server / client / cert
#               generator on our API, for tests/relay/tls_*.t
# EVIL_SMTP     tests/tls/evil_smtp.c: a customer server that presents a
#               malformed certificate after STARTTLS (BearSSL only)
# GATE_PROBE    tests/gate/dnsbl_probe.c: runs the loop and prints DNSBL
#               verdicts (tests/relay/gate_*.t)

MXGATE_HOOKS := $(O)/tests/bin/mxgate-hooks
TLS_TOOL     := $(O)/tests/bin/tls_tool
EVIL_SMTP    := $(O)/tests/bin/evil_smtp
GATE_PROBE   := $(O)/tests/bin/dnsbl_probe

$(O)/tests/obj/worker-hooks.o: $(TOP)/relay/worker.c $(RELAY_LIBS)
	$(call msg,CC,relay/worker.c [test hooks])
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		-DMXGATE_TEST_HOOKS -DMXGATE_VERSION='"$(VERSION)"' \
		-MMD -MP -c $< -o $@

-include $(wildcard $(O)/tests/obj/*.d)

$(MXGATE_HOOKS): $(filter-out $(O)/relay/worker.o,$(RELAY_CORE_OBJS)) \
		$(O)/tests/obj/worker-hooks.o $(O)/relay/mxgate.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $^ $(RELAY_LIBS) -pthread

$(TLS_TOOL): $(TOP)/tests/tls/tls_tool.c $(CORE_A)
	$(call msg,CC,tests/tls/tls_tool.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		$(LDFLAGS_PIE) -o $@ $< $(CORE_A) $(RELAY_LIBS) -pthread

$(EVIL_SMTP): $(TOP)/tests/tls/evil_smtp.c $(TOP)/tests/tls/x509_craft.h \
		$(RELAY_LIBS)
	$(call msg,CC,tests/tls/evil_smtp.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) $(LDFLAGS_PIE) -o $@ $< \
		$(BEARSSL_A)

$(GATE_PROBE): $(TOP)/tests/gate/dnsbl_probe.c $(CORE_A)
	$(call msg,CC,tests/gate/dnsbl_probe.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay $(LDFLAGS_PIE) \
		-o $@ $< $(CORE_A) $(RELAY_LIBS) -pthread

unit: $(MXGATE_HOOKS) $(TLS_TOOL) $(EVIL_SMTP) $(GATE_PROBE)
