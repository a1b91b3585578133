# relay/tls.mk — the TLS modules (issue 6) and their test helper.
#
# TLS_MODS      relay/<name>.c linked into mxgate and every unit test
# TLS_TOOL      tests/tls/tls_tool.c: a TLS echo server / client / cert
#               generator on our API, for tests/relay/tls_*.t (never
#               shipped; built under $(O)/tests/bin)

TLS_MODS := tls tls_pem tls_cert tls_x509

TLS_TOOL := $(O)/tests/bin/tls_tool

$(TLS_TOOL): $(TOP)/tests/tls/tls_tool.c $(RELAY_CORE_OBJS)
	$(call msg,CC,tests/tls/tls_tool.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		$(LDFLAGS_PIE) -o $@ $< $(RELAY_CORE_OBJS) $(RELAY_LIBS) -pthread

unit: $(TLS_TOOL)
