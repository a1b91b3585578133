#!/bin/bash
# image/rootfs.sh — assemble the appliance root filesystem tree and check it
# against rootfs/manifest (every path with type, mode, owner; modes are
# applied from the manifest, so the result does not depend on umask).
#
# Usage: image/rootfs.sh TOP OUTDIR BUSYBOX DEBDIR BIN...
#   TOP     source tree           OUTDIR  staging dir (recreated)
#   BUSYBOX the static busybox (BUSYBOX.links beside it lists its applets)
#   DEBDIR  where to extract the pinned .debs
#   BIN     static mxgate programs to ship (those that exist)
# Env: DL_DIR (pinned .debs), VERSION, SBOM (the SPDX document, installed
#   as /usr/share/mxgate/mxgate.spdx.json), UPDATE_TRUST (the PEM public
#   keys whose update bundles the image accepts, space-separated; each
#   becomes a line "NAME HEX" of /usr/share/mxgate/update-keys, NAME the
#   file's name up to its first dot), MANIFEST_OUT (write the
#   generated manifest there, for `make rootfs-manifest`).
# Owns: OUTDIR and DEBDIR. Never writes into the source tree.
set -eu
export LC_ALL=C
top=$1 root=$2 busybox=$3 debdir=$4; shift 4
dl=${DL_DIR:?}
die() { echo "rootfs: error: $*" >&2; exit 1; }

rm -rf "$root" "$debdir"
mkdir -p "$root" "$debdir"
chmod 0755 "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin usr/libexec/mxgate usr/share/udhcpc \
	etc dev proc sys run tmp data var/empty var/lib/mxgate/empty

# --- busybox and its applets -------------------------------------------------
cp "$busybox" bin/busybox
# applet locations from the build's busybox.links (next to the binary)
[ -f "$busybox.links" ] || die "no $busybox.links"
for a in $(cat "$busybox.links"); do
	a=${a#/}
	case ${a##*/} in poweroff|reboot|halt) continue ;; esac
	[ -e "$a" ] || [ -L "$a" ] || ln -s /bin/busybox "$a"
done

# --- our init stage, services and scripts ---------------------------------------
cp "$top/init/init" sbin/init
cp "$top/init/poweroff" sbin/poweroff
ln -s poweroff sbin/reboot
ln -s poweroff sbin/halt
cp "$top/init/nologin" sbin/nologin
cp "$top/init/logger" usr/libexec/mxgate/logger
cp "$top/init/fw-allow" usr/libexec/mxgate/fw-allow
cp "$top/init/config-apply" usr/libexec/mxgate/config-apply
cp "$top/init/ntp-event" usr/libexec/mxgate/ntp-event
cp "$top/init/login" usr/libexec/mxgate/login
cp "$top/init/mxgate-console" usr/sbin/mxgate-console
cp "$top/init/udhcpc.script" usr/share/udhcpc/default.script
cp -R "$top/init/service" etc/service
(cd "$top/rootfs" && find . -mindepth 1 ! -name manifest | sort) |
while read -r p; do
	if [ -d "$top/rootfs/$p" ]; then mkdir -p "$p"; else cp -P "$top/rootfs/$p" "$p"; fi
done
cp "$top/hardening/sysctl.conf" etc/sysctl.conf
echo "${VERSION:-unknown}" >etc/mxgate-release
cat >etc/os-release <<OSR
NAME=mxgate
ID=mxgate
PRETTY_NAME="mxgate mail gateway ${VERSION:-unknown}"
VERSION_ID=${VERSION:-unknown}
OSR
ln -s /data/etc/mxgate etc/mxgate
ln -s /data/etc/shadow etc/shadow
ln -s /run/resolv.conf etc/resolv.conf
ln -s /proc/self/mounts etc/mtab

# --- the relay --------------------------------------------------------------------
for b in "$@"; do
	[ -f "$b" ] && cp "$b" "usr/sbin/${b##*/}"
done
[ -f usr/sbin/mxgate ] || die "no mxgate binary given"
# the build's software bill of materials (mxgatectl status shows its hash)
[ -f "${SBOM:-}" ] || die "no SBOM given (SBOM=, make sbom)"
cp "$SBOM" usr/share/mxgate/mxgate.spdx.json
# the keys update bundles must be signed with (mxgatectl update apply)
[ -n "${UPDATE_TRUST:-}" ] || die "no UPDATE_TRUST keys given"
{
	echo "# update-keys — the keys whose signed bundles mxgatectl update apply takes"
	for k in $UPDATE_TRUST; do
		n=${k##*/}; n=${n%%.*}
		q=$(openssl ec -pubin -in "$k" -pubout -conv_form uncompressed \
			-outform DER 2>/dev/null | tail -c 65 | od -An -v -tx1 | tr -d ' \n')
		[ ${#q} = 130 ] && [ "${q#04}" != "$q" ] || die "$k: not a P-256 public key"
		echo "$n $q"
	done
} >usr/share/mxgate/update-keys

# --- pinned Debian binaries: s6, e2fsprogs, sfdisk, nft + exactly their libraries
# every pinned .deb except the kernel source and the boot loader (host side)
sed -e 's/#.*//' "$top/deps/pins" | while read -r name kind spec file sum; do
	[ "$kind" = deb ] || continue
	case $name in linux|grub-*) continue ;; esac
	dpkg-deb -x "$dl/$file" "$debdir/all"
done
progs="usr/bin/s6-svscan usr/bin/s6-supervise usr/bin/s6-svscanctl
	usr/bin/s6-svc usr/bin/s6-svstat usr/bin/s6-svok usr/bin/s6-svwait
	usr/bin/s6-log usr/bin/s6-setuidgid usr/bin/s6-applyuidgid
	usr/bin/s6-envuidgid usr/bin/s6-softlimit usr/bin/s6-tai64nlocal
	sbin/mke2fs sbin/e2fsck sbin/sfdisk usr/sbin/nft"
for p in $progs; do
	[ -f "$debdir/all/$p" ] || die "pinned package lacks $p"
	mkdir -p "$(dirname "$p")"
	cp "$debdir/all/$p" "$p"
done
ln -s mke2fs sbin/mkfs.ext4
ln -s e2fsck sbin/fsck.ext4
# the dynamic loader at its INTERP path, then every NEEDED soname, recursively
interp=lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
mkdir -p lib/x86_64-linux-gnu lib64
cp "$debdir/all/$interp" "$interp"
ln -s "/$interp" lib64/ld-linux-x86-64.so.2
todo=$(for p in $progs; do readelf -dW "$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
done_libs=""
while [ -n "$todo" ]; do
	next=""
	for so in $todo; do
		case " $done_libs " in *" $so "*) continue ;; esac
		done_libs="$done_libs $so"
		src=""
		for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
			[ -e "$debdir/all/$dir/$so" ] && { src=$dir/$so; break; }
		done
		[ -n "$src" ] || die "no pinned package provides $so"
		mkdir -p "$(dirname "$src")"
		real=$(readlink -f "$debdir/all/$src")
		if [ -L "$debdir/all/$src" ]; then
			cp "$real" "$(dirname "$src")/${real##*/}"
			ln -s "${real##*/}" "$src"
		else
			cp "$real" "$src"
		fi
		next="$next $(readelf -dW "$real" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
	done
	todo=$(echo $next | tr ' ' '\n' | sort -u)
done

# --- manifest: apply modes, then compare every path ----------------------------
gen_manifest() {
	find . -mindepth 1 | sort | while read -r p; do
		if [ -L "$p" ]; then
			echo "l 0777 root:root ${p#.} -> $(readlink "$p")"
		elif [ -d "$p" ]; then
			echo "d $(stat -c %04a "$p") root:root ${p#.}"
		else
			echo "f $(stat -c %04a "$p") root:root ${p#.}"
		fi
	done
}
manifest=$top/rootfs/manifest
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$manifest" | while read -r t m o p rest; do
	[ -e ".$p" ] || [ -L ".$p" ] || continue
	[ "$t" = l ] || chmod "$m" ".$p"
done
# files not from the overlay get default modes before comparing: executables
# 0755, everything else 0644, directories 0755 (the manifest may say more)
gen_manifest >"$debdir/manifest.generated"
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]*$//' "$manifest" |
	grep -v ' optional$' >"$debdir/manifest.expected" || true
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]*$//' "$manifest" |
	sed -n 's/ optional$//p' >"$debdir/manifest.optional" || true
grep -vxF -f "$debdir/manifest.optional" "$debdir/manifest.generated" \
	>"$debdir/manifest.required" || true
[ -n "${MANIFEST_OUT:-}" ] && cp "$debdir/manifest.generated" "$MANIFEST_OUT"
if ! diff -u "$debdir/manifest.expected" "$debdir/manifest.required" >"$debdir/manifest.diff"; then
	cat "$debdir/manifest.diff" >&2
	die "the root filesystem differs from rootfs/manifest (above: - manifest, + built);
  run 'make rootfs-manifest' and review $debdir/manifest.generated"
fi
