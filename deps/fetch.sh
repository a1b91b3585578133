#!/bin/bash
# deps/fetch.sh — install the build host's Debian tools and fetch + verify
# every pinned third-party input (deps/pins) into the download cache.
#
# Usage: deps/fetch.sh [DL_DIR]      (default ~/.cache/mxgate/dl)
# Exit:  0 everything present and verified, 1 a mismatch or failed fetch.
#
# Owns: the deb-src entry it adds, the download cache. Never writes into the
# source tree. A second run with everything present is offline and fast.
set -eu
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
dl=${1:-${DL_DIR:-$HOME/.cache/mxgate/dl}}
pins=$here/pins
pkgs=$here/packages
srcfile=/etc/apt/sources.list.d/mxgate-src.sources

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }
asroot() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

updated=no
apt_update() {
	[ $updated = yes ] && return 0
	say "apt-get update"
	asroot apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null ||
		die "apt-get update failed"
	updated=yes
}

# 1. deb-src entries (apt-get source needs them)
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
   ! grep -qs '^deb-src' /etc/apt/sources.list; then
	say "adding deb-src entries in $srcfile"
	asroot tee "$srcfile" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	updated=no
	apt_update
fi

# 2. host packages
want=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$pkgs")
missing=""
for p in $want; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	apt_update
	echo "postfix postfix/main_mailer_type select No configuration" |
		asroot debconf-set-selections
	asroot env DEBIAN_FRONTEND=noninteractive apt-get \
		-o DPkg::Lock::Timeout=300 install -y -qq \
		--no-install-recommends $missing >/dev/null ||
		die "apt-get install failed:$missing"
fi

# 3. the Turkish locale: `make verify` builds under it (in tr_TR, [a-z]
#    and case mapping differ for i/I; the build must not care)
if ! locale -a 2>/dev/null | grep -qx 'tr_TR.utf8'; then
	say "generating the tr_TR.UTF-8 locale"
	if grep -qE '^# *tr_TR.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
		asroot sed -i 's/^# *\(tr_TR.UTF-8 UTF-8\)/\1/' /etc/locale.gen
	elif ! grep -qx 'tr_TR.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
		echo 'tr_TR.UTF-8 UTF-8' | asroot tee -a /etc/locale.gen >/dev/null
	fi
	asroot locale-gen >/dev/null || die "locale-gen failed"
	locale -a 2>/dev/null | grep -qx 'tr_TR.utf8' || die "tr_TR.UTF-8 is still missing"
fi

# 4. pinned inputs
mkdir -p "$dl"
fetched=""
while read -r name kind spec file sum; do
	case $name in ''|'#'*) continue;; esac
	[ -n "$sum" ] || die "deps/pins: malformed line for $name"
	if [ ! -f "$dl/$file" ]; then
		case " $fetched " in *" $spec "*) ;; *)
			say "fetching $spec ($kind)"
			case $kind in
			src) cmd="apt-get source -qq --download-only $spec";;
			deb) cmd="apt-get download -qq $spec";;
			*) die "deps/pins: unknown kind '$kind' for $name";;
			esac
			if ! (cd "$dl" && $cmd >/dev/null 2>&1); then
				apt_update
				(cd "$dl" && $cmd >/dev/null 2>&1) ||
					die "cannot fetch $spec"
			fi
			fetched="$fetched $spec";;
		esac
	fi
	[ -f "$dl/$file" ] || die "$spec did not provide $file"
	got=$(sha256sum "$dl/$file" | cut -d' ' -f1)
	if [ "$got" != "$sum" ]; then
		die "sha256 mismatch for $dl/$file
  expected $sum
  got      $got
  refusing to use it; delete the file to fetch it again"
	fi
done < "$pins"
# 5. the relay's role users (mxgate drops to them when started as root;
#    the tests start it as root), the logging user mxgate-logfwd drops to,
#    and the unprivileged user `make verify` runs one of its two builds as
for u in mxgate-smtpd mxgate-jail mxgate-queue mxgate-runner mxlog mxgate-build; do
	if ! getent passwd "$u" >/dev/null; then
		say "creating system user $u"
		asroot useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u" ||
			die "cannot create user $u"
	fi
done
say "all inputs present and verified in $dl"
