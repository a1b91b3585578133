# relay/build.mk — the relay's programs, static-pie musl: mxgate (the
# daemon), mxgatectl (the admin tool), mxgate-logfwd (the remote syslog
# forwarder). The test-only programs built from these objects are in
# tests/helpers.mk.
#
# RELAY_CORE  every module except the programs' own files, by concern;
#             unit tests and the test helpers link the same objects the
#             daemon uses.
# CTL_MODS    mxgatectl's own files, one per command family.

RELAY_CORE := \
	util buf log addr net loop ipc config firewall csv bundle \
	smtp_server session worker master sandbox \
	smtp_client outbound upstream jail \
	gate dns dnsbl \
	tls tls_cache tls_pem tls_cert tls_x509 \
	queue qcrypt envelope qsched queued runner dsn \
	logdisk logseal syslog5424 shacrypt \
	yaml json xml seed update
# (in order: base; the inbound session and the processes; the outbound
# engine; admission; TLS; the outage queue; logs; passwords; seeds)
RELAY_CORE_OBJS := $(patsubst %,$(O)/relay/%.o,$(RELAY_CORE))
RELAY_LIBS := $(BEARSSL_A) $(LMDB_A)

CTL_MODS := mxgatectl ctl_queue ctl_gate ctl_audit ctl_status ctl_config \
	ctl_mailboxes ctl_logs ctl_logguard ctl_backup ctl_system ctl_setup \
	ctl_user ctl_login ctl_seed ctl_update
CTL_OBJS := $(patsubst %,$(O)/relay/%.o,$(CTL_MODS))

MXGATE    := $(O)/bin/mxgate
MXGATECTL := $(O)/bin/mxgatectl
LOGFWD    := $(O)/bin/mxgate-logfwd
# mxgatectl and mxgate-logfwd link against an archive of the core, so
# each pulls in only what it uses and stays correct as modules are added
CORE_A    := $(O)/relay/libmxcore.a

$(O)/relay/%.o: $(TOP)/relay/%.c $(RELAY_LIBS)
	$(call msg,CC,relay/$*.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		-DMXGATE_VERSION='"$(VERSION)"' -DMXGATE_EPOCH=$(SOURCE_DATE_EPOCH) -MMD -MP -c $< -o $@

-include $(wildcard $(O)/relay/*.d)

$(CORE_A): $(RELAY_CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcD $@ $(sort $^)

$(MXGATE): $(RELAY_CORE_OBJS) $(O)/relay/mxgate.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $^ $(RELAY_LIBS) -pthread

$(MXGATECTL): $(CTL_OBJS) $(CORE_A) $(RELAY_LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $(CTL_OBJS) $(CORE_A) \
		$(RELAY_LIBS) -pthread

$(LOGFWD): $(O)/relay/logfwd.o $(CORE_A) $(RELAY_LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $(O)/relay/logfwd.o $(CORE_A) \
		$(RELAY_LIBS) -pthread

relay: $(MXGATE) $(MXGATECTL) $(LOGFWD)

# make run-local: the relay on this machine with a demo route to smtp-sink
run-local: deps
	$(Q)$(MAKE) --no-print-directory relay
	$(Q)$(TOP)/relay/demo/run-local.sh $(O)
.PHONY: run-local
