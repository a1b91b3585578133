# deps/libs.mk — build the pinned third-party libraries as static musl
# archives under $(O)/lib. Sources are unpacked from the verified Debian
# source packages in $(DL_DIR) (dpkg-source applies Debian's patches); we
# compile the library sources with our own rules and flags, nothing else of
# their build systems is used.

BEARSSL_DSC := $(DL_DIR)/bearssl_0.6+dfsg.1-3.dsc
LMDB_DSC    := $(DL_DIR)/lmdb_0.9.24-1.dsc

BEARSSL_SRC := $(O)/src/bearssl
LMDB_SRC    := $(O)/src/lmdb

BEARSSL_A   := $(O)/lib/libbearssl.a
LMDB_A      := $(O)/lib/liblmdb.a
LIB_INC     := -isystem $(O)/lib/include

# unpack: a stamp per package so a half-unpacked tree is redone
$(O)/src/%.unpacked: $(DEPS_STAMP)
	$(Q)rm -rf $(O)/src/$* && mkdir -p $(O)/src
	$(call msg,UNPACK,$*)
	$(Q)cd $(O)/src && dpkg-source --no-check -x -q \
		$(DL_DIR)/$(notdir $($(call uc,$*)_DSC)) $* >/dev/null 2>&1
	$(Q)touch $@

uc = $(shell echo $(1) | tr a-z A-Z)

$(BEARSSL_A): $(O)/src/bearssl.unpacked
	$(call msg,LIB,bearssl)
	$(Q)rm -rf $(O)/obj/bearssl && mkdir -p $(O)/obj/bearssl $(O)/lib/include
	$(Q)cd $(BEARSSL_SRC) && for f in $$(find src -name '*.c' | LC_ALL=C sort); do \
		o=$(O)/obj/bearssl/$$(echo $$f | tr / _ | sed 's/\.c$$/.o/'); \
		$(MUSL_CC) $(LIB_CFLAGS) -Iinc -Isrc -c $$f -o $$o || exit 1; \
	done
	$(Q)rm -f $@ && ar rcD $@ $$(ls $(O)/obj/bearssl/*.o | LC_ALL=C sort)
	$(Q)cp $(BEARSSL_SRC)/inc/*.h $(O)/lib/include/

$(LMDB_A): $(O)/src/lmdb.unpacked
	$(call msg,LIB,lmdb)
	$(Q)rm -rf $(O)/obj/lmdb && mkdir -p $(O)/obj/lmdb $(O)/lib/include
	$(Q)cd $(LMDB_SRC)/libraries/liblmdb && for f in mdb midl; do \
		$(MUSL_CC) $(LIB_CFLAGS) -pthread -c $$f.c -o $(O)/obj/lmdb/$$f.o || exit 1; \
	done
	$(Q)rm -f $@ && ar rcD $@ $(O)/obj/lmdb/mdb.o $(O)/obj/lmdb/midl.o
	$(Q)cp $(LMDB_SRC)/libraries/liblmdb/lmdb.h $(O)/lib/include/

libs: $(BEARSSL_A) $(LMDB_A)
.PHONY: libs
