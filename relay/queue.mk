# relay/queue.mk — the outage queue: the store, its sealing, the
# DSN builder (linked into mxgate and every unit test through RELAY_CORE),
# and the admin tool mxgatectl.
#
# mxgatectl links its own objects against an archive of the relay's core
# objects, so it pulls in only what it uses (config, queue, ...) and stays
# correct when modules are added to RELAY_CORE. RELAY_CORE is defined after
# this fragment is included, hence the secondary expansion.

QUEUE_MODS := queue qcrypt dsn envelope qsched runner logseal
CTL_MODS   := mxgatectl ctl_queue ctl_gate ctl_audit ctl_status ctl_config \
	ctl_mailboxes ctl_logs ctl_logguard ctl_backup ctl_system ctl_setup

MXGATECTL  := $(O)/bin/mxgatectl
CTL_CORE_A := $(O)/relay/libmxcore.a

.SECONDEXPANSION:

$(CTL_CORE_A): $$(RELAY_CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcD $@ $(sort $^)

$(MXGATECTL): $(patsubst %,$(O)/relay/%.o,$(CTL_MODS)) $(CTL_CORE_A) \
		$$(RELAY_LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ \
		$(patsubst %,$(O)/relay/%.o,$(CTL_MODS)) $(CTL_CORE_A) \
		$(RELAY_LIBS) -pthread

relay: $(MXGATECTL)
