# relay/gate.mk — the gating modules: admission table, DNS
# messages, the async DNSBL client; and the helper programs their tests
# drive (tests/gate/, not tests/unit/: every file there is a test).
#
# GATE_MODS   relay/ basenames linked into mxgate and every unit test
# GATE_PROBE  runs the loop and prints DNSBL verdicts (tests/relay/gate_*.t)
# (the pre-banner flow is tested through the daemon itself:
# tests/relay/gate_daemon.t)

GATE_MODS := gate dns dnsbl

GATE_PROBE := $(O)/tests/bin/dnsbl_probe
# Listed here (not $(RELAY_CORE_OBJS), which is defined after this file is
# read): the probe needs no session code.
GATE_PROBE_OBJS := $(patsubst %,$(O)/relay/%.o,util net addr config loop \
	$(GATE_MODS))

$(GATE_PROBE): $(TOP)/tests/gate/dnsbl_probe.c $(GATE_PROBE_OBJS)
	$(call msg,CC,tests/gate/dnsbl_probe.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay $(LDFLAGS_PIE) \
		-o $@ $< $(GATE_PROBE_OBJS)

unit: $(GATE_PROBE)
