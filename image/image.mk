# image/image.mk — the appliance image: kernel, busybox, root filesystem,
# raw GPT disk (BIOS + UEFI), qcow2, OVA, VHD, the software bill of
# materials (`make sbom`), SHA256SUMS and the build record BUILDINFO;
# `make verify` (reproducibility), `make run` (boot it in QEMU), `make
# check-image`.
#
# Outputs: $(IMG)/ the artifacts; $(IMG_WORK)/ everything in between.
# The kernel is cached outside the tree by its inputs (image/kernel.sh).
# Owns: $(IMG), $(IMG_WORK). Never writes into the source tree.

IMG        := $(O)/image
IMG_WORK   := $(O)/image-work
DISK_SIZE  ?= 1G
MXGATE_CACHE ?= $(HOME)/.cache/mxgate
export MXGATE_CACHE

KERNEL_DEB   := $(DL_DIR)/linux-source-6.1_6.1.192-2_all.deb
KERNEL_FRAGS := $(TOP)/board/x86_64-pc/kernel.config $(TOP)/hardening/kernel-hardening.config
KERNEL       := $(IMG_WORK)/kernel/bzImage

BUSYBOX_DSC  := $(DL_DIR)/busybox_1.35.0-4+deb12u1.dsc
BUSYBOX      := $(IMG_WORK)/busybox/busybox
BB_KINC      := $(IMG_WORK)/busybox/kinc

GRUB_DIR     := $(IMG_WORK)/grub
ROOTFS       := $(IMG_WORK)/rootfs
RAW          := $(IMG)/mxgate.img

MXGATE_BINS  := $(MXGATE) $(MXGATECTL) $(LOGFWD)
ROOTFS_INPUTS := $(shell find $(TOP)/init $(TOP)/rootfs -type f 2>/dev/null) \
	$(TOP)/hardening/sysctl.conf $(TOP)/image/rootfs.sh $(TOP)/deps/pins

# VERSION and SOURCE_DATE_EPOCH are bytes of the binaries, the root
# filesystem and the OVF: whatever carries them depends on this stamp, which
# is rewritten only when one of them changed.
VERSION_STAMP := $(O)/.version
VERSIONED_OBJS := $(patsubst $(TOP)/relay/%.c,$(O)/relay/%.o,\
	$(shell grep -l MXGATE_VERSION $(TOP)/relay/*.c))
$(VERSION_STAMP): FORCE
	$(Q)mkdir -p $(@D) && echo '$(VERSION) $(SOURCE_DATE_EPOCH)' | cmp -s - $@ || \
		echo '$(VERSION) $(SOURCE_DATE_EPOCH)' >$@
$(VERSIONED_OBJS) $(BUSYBOX) $(IMG_WORK)/rootfs.ok: $(VERSION_STAMP)
FORCE:

# Update bundles: signed with SIGNING_KEY (make update-bundle; UNSIGNED=1
# leaves the signature out, for make verify, and no appliance takes it); the image
# accepts those signed with a key of UPDATE_TRUST (PEM public keys). Both
# default to the development key pair in tests/keys, which a release must
# not use (RELEASE=1 refuses it).
DEV_KEY      := $(TOP)/tests/keys/update-dev
SIGNING_KEY  ?= $(DEV_KEY).pem
UPDATE_TRUST ?= $(DEV_KEY).pub.pem
ifeq ($(RELEASE),1)
ifneq ($(filter $(DEV_KEY)%,$(SIGNING_KEY) $(UPDATE_TRUST)),)
$(error RELEASE=1: give SIGNING_KEY=PATH and UPDATE_TRUST=PUBLIC.pem; the development key in tests/keys is public)
endif
endif

IMAGE_ENV = SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) VERSION=$(VERSION) \
	DL_DIR=$(DL_DIR) DISK_SIZE=$(DISK_SIZE) UPDATE_TRUST="$(UPDATE_TRUST)"

# --- kernel (image/kernel.sh decides whether the cache has it) ----------------
$(KERNEL): $(KERNEL_DEB) $(KERNEL_FRAGS) $(TOP)/image/kernel.sh $(DEPS_STAMP)
	$(call msg,KERNEL,linux 6.1)
	$(Q)V=$(V) $(TOP)/image/kernel.sh $(KERNEL_DEB) $(dir $@) $(KERNEL_FRAGS)
	$(Q)touch $@

# --- busybox: static-pie musl, our own minimal config ---------------------------
# Its make runs without our MAKEFLAGS: a VERSION=... given to our make would
# otherwise override busybox's own VERSION. The banner date is
# SOURCE_DATE_EPOCH, printed in UTC.
$(BB_KINC):
	$(Q)mkdir -p $@ && for d in linux asm-generic mtd; do \
		ln -sfn /usr/include/$$d $@/$$d; done && \
		ln -sfn /usr/include/x86_64-linux-gnu/asm $@/asm

$(BUSYBOX): export TZ := UTC
$(BUSYBOX): $(O)/src/busybox.unpacked $(TOP)/image/busybox.config \
		$(TOP)/image/kconfig-merge.sh | $(BB_KINC)
	$(call msg,BUSYBOX,$(notdir $(BUSYBOX_DSC)))
	$(Q)rm -rf $(IMG_WORK)/busybox/build && mkdir -p $(IMG_WORK)/busybox/build
	$(Q){ cat $(TOP)/image/busybox.config; \
	  echo 'CONFIG_EXTRA_CFLAGS="-isystem $(BB_KINC) -fPIE $(filter-out -fPIE,$(HARDEN_CFLAGS)) -ffile-prefix-map=$(O)/src/busybox=busybox"'; \
	  echo 'CONFIG_EXTRA_LDFLAGS="$(filter -Wl%,$(LDFLAGS_PIE))"'; \
	} >$(IMG_WORK)/busybox/fragment
	$(Q)$(MAKE) -s -C $(O)/src/busybox O=$(IMG_WORK)/busybox/build allnoconfig >/dev/null 2>&1
	$(Q)$(TOP)/image/kconfig-merge.sh $(IMG_WORK)/busybox/build/.config $(IMG_WORK)/busybox/fragment
	$(Q)yes '' | $(MAKE) -s -C $(O)/src/busybox O=$(IMG_WORK)/busybox/build oldconfig >/dev/null 2>&1
	$(Q)$(TOP)/image/kconfig-merge.sh --check $(IMG_WORK)/busybox/build/.config $(IMG_WORK)/busybox/fragment
	$(Q)env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  make -C $(O)/src/busybox O=$(IMG_WORK)/busybox/build -j2 \
	  CC="$(MUSL_CC)" LD=ld SKIP_STRIP=n busybox \
	  >$(IMG_WORK)/busybox/build.log 2>&1 || \
	  { tail -30 $(IMG_WORK)/busybox/build.log; exit 1; }
	$(Q)$(MAKE) -s -C $(O)/src/busybox O=$(IMG_WORK)/busybox/build busybox.links \
	  >/dev/null 2>&1
	$(Q)cp $(IMG_WORK)/busybox/build/busybox.links $@.links
	$(Q)cp $(IMG_WORK)/busybox/build/busybox $@

# --- GRUB's modules and boot sectors from the pinned .debs --------------------------
$(GRUB_DIR)/.ok: $(DEPS_STAMP) $(TOP)/deps/pins
	$(Q)rm -rf $(GRUB_DIR) && mkdir -p $(GRUB_DIR)/x
	$(Q)for d in $(DL_DIR)/grub-pc-bin_*.deb $(DL_DIR)/grub-efi-amd64-bin_*.deb; do \
		dpkg-deb -x $$d $(GRUB_DIR)/x || exit 1; done
	$(Q)mv $(GRUB_DIR)/x/usr/lib/grub/i386-pc $(GRUB_DIR)/x/usr/lib/grub/x86_64-efi $(GRUB_DIR)/
	$(Q)rm -rf $(GRUB_DIR)/x && touch $@

# --- the software bill of materials (SPDX 2.3 JSON; image/sbom.pl) -------------------
SBOM := $(IMG)/mxgate.spdx.json
$(SBOM): $(TOP)/image/sbom.pl $(TOP)/deps/pins $(TOP)/deps/licenses \
		$(VERSION_STAMP) $(DEPS_STAMP)
	$(call msg,SBOM,$@)
	$(Q)mkdir -p $(IMG)
	$(Q)$(IMAGE_ENV) $(TOP)/image/sbom.pl $(TOP) $@
sbom: $(SBOM)

# --- root filesystem tree, checked against rootfs/manifest -----------------------
$(IMG_WORK)/rootfs.ok: $(BUSYBOX) $(MXGATE_BINS) $(ROOTFS_INPUTS) $(SBOM) $(UPDATE_TRUST)
	$(call msg,ROOTFS,$(ROOTFS))
	$(Q)$(IMAGE_ENV) SBOM=$(SBOM) $(TOP)/image/rootfs.sh $(TOP) $(ROOTFS) \
		$(BUSYBOX) $(IMG_WORK)/debs $(MXGATE_BINS)
	$(Q)touch $@

rootfs-manifest: $(BUSYBOX) $(MXGATE_BINS) $(SBOM)
	$(Q)-$(IMAGE_ENV) SBOM=$(SBOM) MANIFEST_OUT=$(IMG_WORK)/manifest.generated \
		$(TOP)/image/rootfs.sh $(TOP) $(ROOTFS) $(BUSYBOX) $(IMG_WORK)/debs \
		$(MXGATE_BINS) >/dev/null 2>&1
	@echo "generated manifest: $(IMG_WORK)/manifest.generated"
	@echo "review it and copy it over rootfs/manifest (keep the header comment)"

# --- disk and VM artifacts ---------------------------------------------------------
$(RAW): $(KERNEL) $(IMG_WORK)/rootfs.ok $(GRUB_DIR)/.ok $(TOP)/image/disk.sh \
		$(TOP)/image/slot.sh $(TOP)/image/grubenv.sh $(TOP)/image/grub.cfg
	$(call msg,DISK,$@)
	$(Q)mkdir -p $(IMG)
	$(Q)$(IMAGE_ENV) $(TOP)/image/disk.sh $(KERNEL) $(ROOTFS) $(GRUB_DIR) \
		$(IMG_WORK)/disk $@

$(IMG)/SHA256SUMS: $(RAW) $(TOP)/image/vmformats.sh $(TOP)/image/vhd-footer.pl \
		$(TOP)/image/vhdx.pl \
		$(TOP)/image/mxgate.ovf.in
	$(call msg,VM,qcow2+ova+vhd+vhdx)
	$(Q)$(IMAGE_ENV) $(TOP)/image/vmformats.sh $(RAW) $(IMG_WORK)/vm $(IMG)
	$(call msg,SUMS,$@)

# the build record (image/buildinfo.sh): not listed in SHA256SUMS, which
# names only what must be bit-identical for every rebuilder
COMPONENTS := $(KERNEL) $(BUSYBOX) $(MXGATE_BINS) $(IMG_WORK)/disk/root.squashfs
$(IMG)/BUILDINFO: $(IMG)/SHA256SUMS $(TOP)/image/buildinfo.sh $(TOP)/deps/pins
	$(call msg,INFO,$@)
	$(Q)$(IMAGE_ENV) $(TOP)/image/buildinfo.sh $(TOP) $(IMG) $(COMPONENTS)

# --- the signed update bundle (image/bundle.sh; relay/update.h) ---------------------
BUNDLE := $(IMG)/mxgate-$(VERSION).mxu
# (made again every time: it is cheap, and signed or not is no file's date)
$(BUNDLE): $(RAW) $(SBOM) $(TOP)/image/bundle.sh $(SIGNING_KEY) FORCE
	$(call msg,BUNDLE,$@)
	$(Q)rm -f $(IMG)/mxgate-*.mxu
	$(Q)$(IMAGE_ENV) UNSIGNED=$(UNSIGNED) $(TOP)/image/bundle.sh $(KERNEL) $(IMG_WORK)/disk/slot.img \
		$(IMG_WORK)/disk/slot.env $(SBOM) $(SIGNING_KEY) $@
update-bundle: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory image
	$(Q)$(MAKE) --no-print-directory $(BUNDLE)

image: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory relay
	$(Q)$(MAKE) --no-print-directory $(IMG)/BUILDINFO
	$(Q)cd $(IMG) && ls -l mxgate.* SHA256SUMS BUILDINFO | awk '{printf "  %-7s %s %s\n", "IMAGE", $$5, $$9}'

# --- reproducibility ------------------------------------------------------------------
# Two builds from clean clones; each computes its own VERSION and epoch.
# REFERENCE=DIR, VERIFY_KERNEL=1, VERIFY_WORKTREE=1, RELEASE=1 reach the
# script through the environment (see image/verify.sh).
verify: $(DEPS_STAMP)
	$(Q)$(TOP)/image/verify.sh $(TOP) $(O)/verify

# --- run the appliance in QEMU --------------------------------------------------------
RUN_PORT ?= 2525
SINK_PORT ?= 2526
run: image
	$(Q)$(IMAGE_ENV) $(TOP)/board/qemu-x86_64/run.sh $(TOP) $(IMG) $(IMG_WORK)/run \
		$(RUN_PORT) $(SINK_PORT)

# --- image tests, only when their inputs changed ----------------------------------------
# tests/tests.mk hooks them into `make check` through $(CHECK_IMAGE).
CHECK_IMAGE := check-image
# The stamp lives outside the tree, keyed by the artifacts' checksums (which
# are reproducible, so they stand for every input), the build record and
# the tests themselves.
check-image: image
	$(Q)key=$$(cat $(IMG)/SHA256SUMS $(IMG)/BUILDINFO $(TOP)/tests/image/*.t \
		$(TOP)/tests/lib/*.pm $(TOP)/board/qemu-x86_64/* 2>/dev/null | sha256sum | cut -c1-32); \
	stamp=$(MXGATE_CACHE)/image-tests/$$key; \
	if [ -f $$stamp ]; then \
		echo "  CHECK   image tests passed before for these inputs ($$stamp)"; \
	else \
		cd $(TOP) && MXGATE_OUT=$(O) MXGATE_TOP=$(TOP) \
		  $(PROVE) -I tests/lib $(PROVE_FLAGS) tests/image && \
		mkdir -p $(dir $(MXGATE_CACHE)/image-tests/x) && touch $$stamp; \
	fi

.PHONY: image verify run check-image rootfs-manifest sbom update-bundle
