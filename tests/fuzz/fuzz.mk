# tests/fuzz/fuzz.mk — libFuzzer harnesses for every parser of outside
# bytes (tests/fuzz/*_fuzz.c), built with clang for glibc with ASan and
# UBSan, never shipped. Everything is written under $(O)/fuzz: the relay
# modules compiled again with coverage, BearSSL and LMDB compiled again
# with ASan from the sources deps/libs.mk unpacked, the harnesses, the
# corpora they grow, their logs and crashes. The checked-in seed corpora
# (tests/fuzz/corpus/<harness>/) are only ever read.
#
#   make fuzz        each harness for FUZZ_SECONDS (60), one line each
#   make fuzz-check  (1) every checked-in corpus file through every
#                    harness, then (2) each harness for FUZZ_CHECK_SECONDS
#                    (20); part of make check. Fails on any crash.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 20
FUZZ_RSS_MB        ?= 1024
FUZZ_O             := $(O)/fuzz

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-isystem $(FUZZ_O)/include -I$(TOP)/relay
# third-party code: ASan only (their own UB is not ours to judge here)
FUZZ_LIB_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address -w

FUZZ_NAMES := $(sort $(patsubst $(TOP)/tests/fuzz/%_fuzz.c,%,\
	$(wildcard $(TOP)/tests/fuzz/*_fuzz.c)))
FUZZ_BINS  := $(patsubst %,$(FUZZ_O)/bin/%,$(FUZZ_NAMES))
FUZZ_SEEDS := $(sort $(wildcard $(TOP)/tests/fuzz/corpus/*/*))
FUZZ_RUN   := $(TOP)/tests/fuzz/run.sh

FUZZ_BEARSSL_A := $(FUZZ_O)/lib/libbearssl.a
FUZZ_LMDB_A    := $(FUZZ_O)/lib/liblmdb.a
FUZZ_CORE_A    := $(FUZZ_O)/lib/libmxcore.a
# the modules the harnesses link (the daemon's process loops are left out:
# they use musl's default feature set, and no harness drives them)
FUZZ_MODS      := $(filter-out worker master,$(RELAY_CORE))
FUZZ_CORE_OBJS := $(patsubst %,$(FUZZ_O)/relay/%.o,$(FUZZ_MODS))

# A missing compiler is a failure with its reason, never a silent skip.
FUZZ_TOOLS := $(FUZZ_O)/.tools-ok
$(FUZZ_TOOLS): $(DEPS_STAMP)
	$(Q)command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: \
	$(FUZZ_CC) not found: run 'make deps' (deps/packages: clang, \
	libclang-rt-14-dev)" >&2; exit 1; }
	$(Q)mkdir -p $(FUZZ_O) && cd $(FUZZ_O) && \
		echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' \
		> .probe.c && $(FUZZ_CC) -fsanitize=fuzzer,address,undefined \
		.probe.c -o .probe 2>/dev/null || { echo "make fuzz: \
	$(FUZZ_CC) cannot link -fsanitize=fuzzer: install libclang-rt-14-dev \
	('make deps')" >&2; exit 1; }
	$(Q)rm -f $(FUZZ_O)/.probe $(FUZZ_O)/.probe.c && touch $@

$(FUZZ_O)/include/.ok: $(O)/src/bearssl.unpacked $(O)/src/lmdb.unpacked
	$(Q)mkdir -p $(dir $@)
	$(Q)cp $(BEARSSL_SRC)/inc/*.h $(LMDB_SRC)/libraries/liblmdb/lmdb.h \
		$(dir $@) && touch $@

$(FUZZ_BEARSSL_A): $(O)/src/bearssl.unpacked $(FUZZ_TOOLS)
	$(call msg,LIB,fuzz/bearssl)
	$(Q)rm -rf $(FUZZ_O)/obj/bearssl && mkdir -p $(FUZZ_O)/obj/bearssl $(dir $@)
	$(Q)cd $(BEARSSL_SRC) && for f in $$(find src -name '*.c' | LC_ALL=C sort); do \
		o=$(FUZZ_O)/obj/bearssl/$$(echo $$f | tr / _ | sed 's/\.c$$/.o/'); \
		$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -Iinc -Isrc -c $$f -o $$o || exit 1; \
	done
	$(Q)rm -f $@ && ar rcD $@ $$(ls $(FUZZ_O)/obj/bearssl/*.o | LC_ALL=C sort)

$(FUZZ_LMDB_A): $(O)/src/lmdb.unpacked $(FUZZ_TOOLS)
	$(call msg,LIB,fuzz/lmdb)
	$(Q)rm -rf $(FUZZ_O)/obj/lmdb && mkdir -p $(FUZZ_O)/obj/lmdb $(dir $@)
	$(Q)cd $(LMDB_SRC)/libraries/liblmdb && for f in mdb midl; do \
		$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -pthread -c $$f.c \
			-o $(FUZZ_O)/obj/lmdb/$$f.o || exit 1; \
	done
	$(Q)rm -f $@ && ar rcD $@ $(FUZZ_O)/obj/lmdb/mdb.o $(FUZZ_O)/obj/lmdb/midl.o

$(FUZZ_O)/relay/%.o: $(TOP)/relay/%.c $(FUZZ_O)/include/.ok $(FUZZ_TOOLS)
	$(call msg,CC,fuzz/relay/$*.c)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
		-DMXGATE_VERSION='"fuzz"' -MMD -MP -c $< -o $@

-include $(wildcard $(FUZZ_O)/relay/*.d $(FUZZ_O)/obj/*.d)

$(FUZZ_CORE_A): $(FUZZ_CORE_OBJS)
	$(Q)mkdir -p $(dir $@) && rm -f $@ && ar rcD $@ $(sort $^)

$(FUZZ_O)/bin/%: $(TOP)/tests/fuzz/%_fuzz.c $(TOP)/tests/fuzz/fuzz.h \
		$(FUZZ_CORE_A) $(FUZZ_BEARSSL_A) $(FUZZ_LMDB_A)
	$(call msg,FUZZ,tests/fuzz/$*_fuzz.c)
	$(Q)mkdir -p $(dir $@) $(FUZZ_O)/obj
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) \
		-MMD -MP -MF $(FUZZ_O)/obj/$*.d -o $@ $< $(FUZZ_CORE_A) \
		$(FUZZ_BEARSSL_A) $(FUZZ_LMDB_A) -pthread

fuzz-build: $(FUZZ_BINS)

# Runs one after the other (the machine is shared); one line per harness.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)fail=0; for h in $(FUZZ_NAMES); do \
		$(FUZZ_RUN) fuzz $(FUZZ_O)/bin/$$h $$h $(FUZZ_SECONDS) \
			$(FUZZ_RSS_MB) $(FUZZ_O) $(TOP)/tests/fuzz/corpus/$$h \
			|| fail=1; \
	done; exit $$fail

fuzz-check: deps
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)test -n "$(FUZZ_SEEDS)" || { echo "fuzz-check: no corpus in \
	tests/fuzz/corpus" >&2; exit 1; }
	$(Q)fail=0; for h in $(FUZZ_NAMES); do \
		test -d $(TOP)/tests/fuzz/corpus/$$h || { echo "fuzz-check: \
	no seed corpus for $$h (tests/fuzz/corpus/$$h)" >&2; fail=1; }; \
		$(FUZZ_RUN) replay $(FUZZ_O)/bin/$$h $$h $(FUZZ_RSS_MB) \
			$(FUZZ_O) $(FUZZ_SEEDS) || fail=1; \
	done; exit $$fail
	$(Q)fail=0; for h in $(FUZZ_NAMES); do \
		$(FUZZ_RUN) fuzz $(FUZZ_O)/bin/$$h $$h $(FUZZ_CHECK_SECONDS) \
			$(FUZZ_RSS_MB) $(FUZZ_O) $(TOP)/tests/fuzz/corpus/$$h \
			|| fail=1; \
	done; exit $$fail

.PHONY: fuzz fuzz-check fuzz-build
