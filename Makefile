# Makefile — the one entry point of mxgate. Orchestration only: the rules
# live in the fragments included below (deps/, relay/, tests/, image/,
# bench/). Quiet by default, V=1 shows every command. Everything is written
# under $(O) (default ./out); the source tree is never written to.

TOP    := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
O      ?= $(TOP)/out
override O := $(abspath $(O))
DL_DIR ?= $(HOME)/.cache/mxgate/dl
export DL_DIR

# Every recipe runs in the C locale: text matching ([A-Za-z], sort order,
# case mapping) must not depend on the builder's LANG (tr_TR: I is not i).
export LC_ALL := C
unexport LANGUAGE

# VERSION and SOURCE_DATE_EPOCH come from git plumbing (image/version.sh):
# 0.<commit count>-g<12 hex of HEAD>[-dirty], or with RELEASE=1 the tag on
# HEAD; the epoch is HEAD's committer time. Neither the builder's git
# configuration nor the environment changes them; only the command line
# (VERSION=... SOURCE_DATE_EPOCH=..., needed for a tree without git).
ifneq ($(origin VERSION)$(origin SOURCE_DATE_EPOCH),command linecommand line)
GIT_VERSION := $(shell $(TOP)/image/version.sh $(TOP) 2>&1)
ifeq ($(firstword $(GIT_VERSION)),version:)
VERSION_ERROR := $(GIT_VERSION)
GIT_VERSION :=
endif
ifneq ($(origin VERSION),command line)
VERSION := $(word 1,$(GIT_VERSION))
endif
ifneq ($(origin SOURCE_DATE_EPOCH),command line)
SOURCE_DATE_EPOCH := $(word 2,$(GIT_VERSION))
endif
endif
export SOURCE_DATE_EPOCH
ifeq ($(VERSION),)
ifneq ($(filter-out help clean deps,$(or $(MAKECMDGOALS),help)),)
$(error $(VERSION_ERROR))
endif
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-7s %s\n' '$(1)' '$(2)';
endif

.DEFAULT_GOAL := help
DEPS_STAMP := $(O)/.deps-ok

include hardening/flags.mk
include deps/libs.mk
include relay/build.mk
include tests/tests.mk
include tests/fuzz/fuzz.mk
include image/image.mk
include bench/bench.mk

help:
	@echo "mxgate — hardened pass-through mail gateway"
	@echo
	@echo "  make deps     install build tools, fetch + verify pinned inputs ($(DL_DIR))"
	@echo "  make relay    build the static-pie relay: $(O)/bin/mxgate, mxgatectl"
	@echo "  make check    build and run the TAP test suite (prove), fuzz-check first"
	@echo "  make fuzz     run every libFuzzer harness FUZZ_SECONDS (60) each"
	@echo "  make fuzz-check  replay the fuzz corpora, fuzz each harness 20 s"
	@echo "  make faults   the fault tests at full size (flapping 60 s, 10,000-connection flood, 5 power cuts, 200 days of logs)"
	@echo "  make run      start the appliance (or, before the image, the relay) for a demo"
	@echo "  make image    build the disk and VM images under $(O)/image"
	@echo "  make sbom     the software bill of materials (SPDX 2.3 JSON) alone"
	@echo "  make verify   build everything twice and compare (reproducibility);"
	@echo "                REFERENCE=DIR also against a published SHA256SUMS + BUILDINFO"
	@echo "  make bench    mxgate vs Postfix vs OpenSMTPD, side by side"
	@echo "  make clean    remove $(O)"
	@echo
	@echo "  O=DIR output directory, DL_DIR=DIR download cache, V=1 verbose,"
	@echo "  RELEASE=1 VERSION is the tag on HEAD (default 0.<commits>-g<12 hex>)"

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

.PHONY: help deps clean image verify bench run check relay
