#!/bin/bash
# board/qemu-x86_64/qemu.sh — start the x86_64-pc appliance image in QEMU:
# q35, 2 vCPUs, 512 MiB, virtio disk/net/rng, serial console on stdio,
# user networking restricted to a hostfwd (local port -> guest :25) and a
# guestfwd (guest 10.0.2.100:25 -> local smtp sink). One place for the
# QEMU arguments, used by `make run` and tests/image.
#
# Usage: qemu.sh [-f bios|uefi] [-p HOSTPORT] [-s SINKPORT] [-a tcg|kvm|auto]
#                [-w WORKDIR] DISK
#   DISK is used in place (give it a copy). Serial console: stdin/stdout.
# Exit: QEMU's exit status (0 after the guest powers off).
set -eu
fw=bios port=2525 sink=2526 accel=${ACCEL:-auto} work=""
while getopts f:p:s:a:w: o; do
	case $o in
	f) fw=$OPTARG ;; p) port=$OPTARG ;; s) sink=$OPTARG ;;
	a) accel=$OPTARG ;; w) work=$OPTARG ;;
	*) exit 100 ;;
	esac
done
shift $((OPTIND - 1))
disk=${1:?usage: qemu.sh [options] DISK}
[ -n "$work" ] || work=$(dirname "$disk")

# KVM only where it really works: /dev/kvm can exist and still hang under
# nested virtualisation, so probe once (a few seconds) and remember.
if [ "$accel" = auto ]; then
	accel=tcg
	cache=${MXGATE_CACHE:-$HOME/.cache/mxgate}/kvm-probe-$(uname -r)
	if [ -w /dev/kvm ]; then
		if [ ! -f "$cache" ]; then
			# a boot sector that writes 1 to the isa-debug-exit port:
			# QEMU exits with status 3 at once if KVM runs guest code
			mkdir -p "$(dirname "$cache")"
			probe=$(mktemp)
			printf '\260\001\346\364\353\376' >"$probe"
			truncate -s 510 "$probe" && printf '\125\252' >>"$probe"
			truncate -s 1M "$probe"
			rc=0
			timeout 15 qemu-system-x86_64 -accel kvm -M pc -m 32 -nodefaults \
				-display none -device isa-debug-exit,iobase=0xf4,iosize=4 \
				-drive file="$probe",format=raw,if=ide >/dev/null 2>&1 || rc=$?
			rm -f "$probe"
			if [ $rc = 3 ]; then echo kvm; else echo tcg; fi >"$cache"
		fi
		accel=$(cat "$cache")
	fi
fi

fwargs=()
if [ "$fw" = uefi ]; then
	vars=$work/OVMF_VARS.fd
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$vars"
	fwargs=(-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
		-drive if=pflash,format=raw,unit=1,file="$vars")
fi
cpu=max
[ "$accel" = kvm ] && cpu=host

exec qemu-system-x86_64 -accel "$accel" -M q35 -cpu "$cpu" -smp 2 -m 512 \
	-nodefaults -no-user-config -display none -serial mon:stdio \
	"${fwargs[@]}" \
	-drive file="$disk",format=raw,if=virtio \
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:25,guestfwd=tcp:10.0.2.100:25-cmd:nc 127.0.0.1 $sink" \
	-device virtio-net-pci,netdev=n0 \
	-device virtio-rng-pci
