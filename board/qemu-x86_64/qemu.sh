#!/bin/bash
# board/qemu-x86_64/qemu.sh — start the x86_64-pc appliance image in QEMU:
# q35, 2 vCPUs, 512 MiB, virtio disk/net/rng (no network boot ROM),
# serial console on stdio,
# user networking restricted to a hostfwd (local port -> guest :25) and a
# guestfwd (guest 10.0.2.100:25 -> local smtp sink). One place for the
# QEMU arguments, used by `make run` and tests/image.
#
# Usage: qemu.sh [-f bios|uefi] [-p HOSTPORT] [-s SINKPORT] [-a tcg|kvm|auto]
#                [-w WORKDIR] [-F raw|vpc|qcow2] [-2] [-c ISO] [-x FILE] DISK
#        qemu.sh -P [-a tcg|kvm]    probe only: does ACCEL (default kvm)
#                                   run this machine? exit 0 yes, 1 no
#   DISK is used in place (give it a copy). Serial console: stdin/stdout.
#   -2: a spare NIC in front of the real one (it becomes eth0; QEMU netdev
#   "spare", isolated; `set_link spare off` in the monitor unplugs it).
#   -c ISO: a CD-ROM with ISO in it (a cloud-init seed, say), read-only.
#   -x FILE: a second disk (virtio, raw, read-only) holding FILE: a USB
#   stick or virtual disk an update bundle was written to (/dev/vdb).
#   -a auto (the default, or $ACCEL): KVM where a probe of this very
#   machine runs under it, TCG otherwise; one line on stderr says which.
# Exit: QEMU's exit status (0 after the guest powers off).
set -eu
fw=bios port=2525 sink=2526 accel=${ACCEL:-auto} work="" probe_only=0 fmt=raw
spare=0 cdrom="" extra=""
while getopts f:p:s:a:w:F:c:x:P2 o; do
	case $o in
	f) fw=$OPTARG ;; p) port=$OPTARG ;; s) sink=$OPTARG ;;
	a) accel=$OPTARG ;; w) work=$OPTARG ;; F) fmt=$OPTARG ;;
	P) probe_only=1 ;; 2) spare=1 ;; c) cdrom=$OPTARG ;; x) extra=$OPTARG ;;
	*) exit 100 ;;
	esac
done
shift $((OPTIND - 1))
[ "$probe_only" = 1 ] || {
	disk=${1:?usage: qemu.sh [options] DISK}
	[ -n "$work" ] || work=$(dirname "$disk")
}

# The machine every run uses; the KVM probe below boots exactly this (same
# machine type, CPU model, memory, vCPUs and devices), so a host whose KVM
# cannot run it (nested KVM refusing `-cpu host` MSRs, say) is found out.
machine() {
	local cpu=max
	[ "$1" = kvm ] && cpu=host
	# TCG: a 64 MiB translation cache, not the default 1 GiB. After a warm
	# reboot (a guest that ran a minute or more), GRUB's relocator copying
	# the kernel into place over pages the last boot executed from made QEMU
	# flush the whole cache again and again: a reboot stalled for minutes
	local acc=$1
	[ "$1" = tcg ] && acc=tcg,tb-size=64
	mach=(-accel "$acc" -M q35 -cpu "$cpu" -smp 2 -m 512
		-nodefaults -no-user-config -display none)
	# romfile=: no network boot ROM (iPXE) on the NICs; the appliance
	# never boots from the network, and the firmware would load and run
	# it at every boot (seconds under TCG)
	devs=(-device virtio-net-pci,netdev=n0,romfile= -device virtio-rng-pci)
	# the disk first in the firmware's boot order: nothing else is tried
	disk_dev=(-device virtio-blk-pci,drive=d0,bootindex=1)
}

# probe ACCEL: 0 if QEMU runs guest code under ACCEL with this machine: a
# boot sector (on the same virtio disk as the appliance's) that writes 1 to
# the isa-debug-exit port, so QEMU exits with status 3 at once.
probe() {
	local img rc=0
	img=$(mktemp)
	printf '\260\001\346\364\353\376' >"$img"
	truncate -s 510 "$img" && printf '\125\252' >>"$img"
	truncate -s 1M "$img"
	machine "$1"
	timeout 20 qemu-system-x86_64 "${mach[@]}" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-drive file="$img",format=raw,if=none,id=d0 "${disk_dev[@]}" \
		-netdev user,id=n0,restrict=on "${devs[@]}" \
		</dev/null >/dev/null 2>&1 || rc=$?
	rm -f "$img"
	[ $rc = 3 ]
}

if [ "$probe_only" = 1 ]; then
	[ "$accel" = auto ] && accel=kvm
	if probe "$accel"; then echo "qemu: $accel runs this machine"; exit 0; fi
	echo "qemu: $accel cannot run this machine"; exit 1
fi

# auto: KVM only where it really runs this guest. The verdict is cached by
# everything it depends on: the host kernel, the QEMU version, the CPU's
# flags and this script (the machine definition).
if [ "$accel" = auto ]; then
	accel=tcg why="no usable /dev/kvm"
	if [ -w /dev/kvm ]; then
		key=$( {
			uname -r
			qemu-system-x86_64 --version | head -1
			grep -m1 '^flags' /proc/cpuinfo
			cat "$0"
		} | sha256sum | cut -c1-32)
		cache=${MXGATE_CACHE:-$HOME/.cache/mxgate}/kvm-probe/$key
		if [ ! -f "$cache" ]; then
			mkdir -p "$(dirname "$cache")"
			if probe kvm; then echo kvm; else echo tcg; fi >"$cache"
		fi
		accel=$(cat "$cache")
		why="/dev/kvm does not run this machine (probe cached in $cache)"
	fi
	if [ "$accel" = tcg ]; then
		echo "qemu: using TCG, software emulation (slower): $why" >&2
	else
		echo "qemu: using KVM" >&2
	fi
fi

uefi_vars() {
	fwargs=()
	if [ "$fw" = uefi ]; then
		vars=$work/OVMF_VARS.fd
		cp /usr/share/OVMF/OVMF_VARS_4M.fd "$vars"
		fwargs=(-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
			-drive if=pflash,format=raw,unit=1,file="$vars")
	fi
}

run() {
	machine "$1"
	uefi_vars
	nics=()
	[ "$spare" = 1 ] && nics=(-netdev user,id=spare,restrict=on
		-device virtio-net-pci,netdev=spare,romfile=)
	cd=()
	[ -n "$cdrom" ] && cd=(-drive file="$cdrom",media=cdrom,if=ide,readonly=on)
	x=()
	[ -n "$extra" ] && x=(-drive file="$extra",format=raw,if=none,id=d1,readonly=on
		-device virtio-blk-pci,drive=d1)
	qemu-system-x86_64 "${mach[@]}" -serial mon:stdio \
		"${fwargs[@]}" "${nics[@]}" "${cd[@]}" \
		-drive file="$disk",format="$fmt",if=none,id=d0 "${disk_dev[@]}" "${x[@]}" \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:25,guestfwd=tcp:10.0.2.100:25-cmd:nc 127.0.0.1 $sink" \
		"${devs[@]}"
}

# Under KVM, a QEMU that dies within seconds (a host the probe could not
# foresee) is started again under TCG, with one line saying so.
if [ "$accel" = kvm ]; then
	t0=$(date +%s) rc=0
	run kvm || rc=$?
	if [ $rc != 0 ] && [ $(($(date +%s) - t0)) -lt 10 ]; then
		echo "qemu: QEMU stopped under KVM (status $rc) at start; using TCG, software emulation (slower)" >&2
		[ -n "${cache:-}" ] && echo tcg >"$cache"
		rc=0
		run tcg || rc=$?
	fi
	exit $rc
fi
run "$accel"
