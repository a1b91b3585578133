# relay/build.mk — the relay daemon and its admin tool, static-pie musl.
#
# RELAY_CORE  every module except the program entry points; unit tests
#             link against the same objects the daemon uses.

# Each feature area lists its modules in its own fragment (owned by the
# person working on it) so parallel work never edits the same line.
include $(TOP)/relay/queue.mk
include $(TOP)/relay/tls.mk
include $(TOP)/relay/gate.mk
include $(TOP)/relay/logfwd.mk

RELAY_CORE := util net addr config loop buf log smtp_server smtp_client \
	outbound upstream session worker master ipc jail sandbox queued \
	firewall csv logdisk syslog5424 bundle \
	$(QUEUE_MODS) $(TLS_MODS) $(GATE_MODS)
RELAY_CORE_OBJS := $(patsubst %,$(O)/relay/%.o,$(RELAY_CORE))
RELAY_LIBS := $(BEARSSL_A) $(LMDB_A)

MXGATE    := $(O)/bin/mxgate

$(O)/relay/%.o: $(TOP)/relay/%.c $(RELAY_LIBS)
	$(call msg,CC,relay/$*.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		-DMXGATE_VERSION='"$(VERSION)"' -MMD -MP -c $< -o $@

$(MXGATE): $(RELAY_CORE_OBJS) $(O)/relay/mxgate.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $^ $(RELAY_LIBS) -pthread

relay: $(MXGATE)

-include $(wildcard $(O)/relay/*.d)

# A test-only build of the daemon whose workers answer SIGUSR2 by calling
# socket(): tests/relay/jail.t proves the seccomp filter kills them.
MXGATE_HOOKS := $(O)/tests/bin/mxgate-hooks
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

# make run-local: the relay on this machine with a demo route to smtp-sink
run-local: deps
	$(Q)$(MAKE) --no-print-directory relay
	$(Q)$(TOP)/relay/demo/run-local.sh $(O)
.PHONY: run-local
