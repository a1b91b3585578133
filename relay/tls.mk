# relay/tls.mk — the TLS modules and their test helpers.
#
# TLS_MODS      relay/<name>.c linked into mxgate and every unit test
# TLS_TOOL      tests/tls/tls_tool.c: a TLS echo server / client / cert
#               generator on our API, for tests/relay/tls_*.t (never
#               shipped; built under $(O)/tests/bin)
# EVIL_SMTP     tests/tls/evil_smtp.c: a customer server that presents a
#               malformed certificate after STARTTLS (BearSSL only)

TLS_MODS := tls tls_pem tls_cert tls_x509

TLS_TOOL := $(O)/tests/bin/tls_tool

$(TLS_TOOL): $(TOP)/tests/tls/tls_tool.c $(RELAY_CORE_OBJS)
	$(call msg,CC,tests/tls/tls_tool.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) -I$(TOP)/relay \
		$(LDFLAGS_PIE) -o $@ $< $(RELAY_CORE_OBJS) $(RELAY_LIBS) -pthread

EVIL_SMTP := $(O)/tests/bin/evil_smtp

$(EVIL_SMTP): $(TOP)/tests/tls/evil_smtp.c $(TOP)/tests/tls/x509_craft.h $(RELAY_LIBS)
	$(call msg,CC,tests/tls/evil_smtp.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(MUSL_CC) $(OUR_CFLAGS) $(LIB_INC) $(LDFLAGS_PIE) -o $@ $< $(BEARSSL_A)

unit: $(TLS_TOOL) $(EVIL_SMTP)

$(O)/tests/unit/tls_x509_test.t: $(TOP)/tests/tls/x509_craft.h
