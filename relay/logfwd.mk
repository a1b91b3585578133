# relay/logfwd.mk — mxgate-logfwd, the remote syslog forwarder
# (relay/logfwd.c): its own program, linked against the archive of the
# relay's core objects (relay/queue.mk) like mxgatectl.

LOGFWD := $(O)/bin/mxgate-logfwd

$(LOGFWD): $(O)/relay/logfwd.o $(CTL_CORE_A) $$(RELAY_LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(LDFLAGS_PIE) -o $@ $(O)/relay/logfwd.o \
		$(CTL_CORE_A) $(RELAY_LIBS) -pthread

relay: $(LOGFWD)
