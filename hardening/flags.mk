# hardening/flags.mk — compiler and linker flags for everything we build
# with musl. One place, read by the top-level Makefile and checked by
# tests/relay/hardening.t against the binaries (not against this list).
#
# HOST_CC      plain gcc, used with the specs file below
# MUSL_CC      gcc that compiles and links against musl as static-pie
# LIB_CFLAGS   third-party libraries (BearSSL, LMDB): hardened, no -Werror
# OUR_CFLAGS   our code: the same plus strict warnings as errors
# LDFLAGS_PIE  static-pie with RELRO/now and a non-executable stack

HOST_CC     ?= gcc
MUSL_SPECS  := $(TOP)/hardening/musl-static-pie.specs
MUSL_CC     := $(HOST_CC) -specs $(MUSL_SPECS)

# Paths leak into objects through __FILE__ and debug info; map both the
# source tree and the output tree to fixed names so two checkouts in
# different directories produce identical binaries.
REPRO_FLAGS := -ffile-prefix-map=$(TOP)=. -ffile-prefix-map=$(O)=out

HARDEN_CFLAGS := -fPIE -fstack-protector-strong -fstack-clash-protection \
	-fcf-protection=full -fno-plt -fno-common -U_FORTIFY_SOURCE \
	-D_FORTIFY_SOURCE=0 $(REPRO_FLAGS)

LIB_CFLAGS  := -O2 $(HARDEN_CFLAGS) -w

OUR_CFLAGS  := -std=c11 -O2 $(HARDEN_CFLAGS) \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2 \
	-Wformat-security -Wimplicit-fallthrough -Wcast-align \
	-Wno-unused-parameter

LDFLAGS_PIE := -fPIE -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack \
	-Wl,-z,separate-code -Wl,--build-id=sha1 -Wl,--hash-style=gnu
