# Makefile — the one entry point of mxgate. Orchestration only: the rules
# live in the fragments included below (deps/, relay/, tests/, image/,
# bench/). Quiet by default, V=1 shows every command. Everything is written
# under $(O) (default ./out); the source tree is never written to.

TOP    := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
O      ?= $(TOP)/out
override O := $(abspath $(O))
DL_DIR ?= $(HOME)/.cache/mxgate/dl
export DL_DIR

# SOURCE_DATE_EPOCH: the last commit's time, for reproducible artifacts.
SOURCE_DATE_EPOCH ?= $(shell git -C $(TOP) log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
VERSION ?= $(shell git -C $(TOP) describe --tags --always --dirty 2>/dev/null || echo 0.1)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2);
endif

.DEFAULT_GOAL := help
DEPS_STAMP := $(O)/.deps-ok

include hardening/flags.mk
include deps/libs.mk
include relay/build.mk
include tests/tests.mk
include tests/fuzz/fuzz.mk
-include image/image.mk
-include bench/bench.mk

help:
	@echo "mxgate — hardened pass-through mail gateway"
	@echo
	@echo "  make deps     install build tools, fetch + verify pinned inputs ($(DL_DIR))"
	@echo "  make relay    build the static-pie relay: $(O)/bin/mxgate, mxgatectl"
	@echo "  make check    build and run the TAP test suite (prove), fuzz-check first"
	@echo "  make fuzz     run every libFuzzer harness FUZZ_SECONDS (60) each"
	@echo "  make fuzz-check  replay the fuzz corpora, fuzz each harness 20 s"
	@echo "  make run      start the appliance (or, before the image, the relay) for a demo"
	@echo "  make image    build the disk and VM images under $(O)/image"
	@echo "  make verify   build everything twice and compare (reproducibility)"
	@echo "  make bench    mxgate vs Postfix vs OpenSMTPD, side by side"
	@echo "  make clean    remove $(O)"
	@echo
	@echo "  O=DIR output directory, DL_DIR=DIR download cache, V=1 verbose"

# deps: always re-verified (fast and offline when everything is present);
# the stamp only orders the builds after it.
deps:
	$(Q)$(TOP)/deps/fetch.sh $(DL_DIR)
	$(Q)mkdir -p $(O) && { test -f $(DEPS_STAMP) || touch $(DEPS_STAMP); }

$(DEPS_STAMP):
	$(Q)$(TOP)/deps/fetch.sh $(DL_DIR)
	$(Q)mkdir -p $(O) && touch $@

clean:
	$(call msg,CLEAN,$(O))
	$(Q)rm -rf $(O)

ifndef IMAGE_MK
image verify:
	@echo "make $@: the appliance image is not built yet (issue 4)" >&2; exit 1
endif

ifndef IMAGE_MK
run: run-local
endif

ifndef BENCH_MK
bench:
	@echo "make bench: the benchmark harness is not written yet (issue 9)" >&2; exit 1
endif

.PHONY: help deps clean image verify bench run check relay
