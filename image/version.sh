#!/bin/sh
# image/version.sh — print "VERSION SOURCE_DATE_EPOCH" for the source tree,
# from git plumbing only, so that no builder's git configuration (core.abbrev,
# log.showSignature, replace refs) and no tag changes the result:
#   VERSION  0.<commits up to HEAD>-g<first 12 hex of HEAD>[-dirty]
#            with RELEASE=1: the one tag pointing exactly at HEAD (fails when
#            there is none, several, or the tree is dirty)
#            -dirty only when `git status --porcelain` lists anything
#   EPOCH    the committer time of HEAD (SOURCE_DATE_EPOCH)
# Usage: image/version.sh TOP      Env: RELEASE=1
#            in a shallow clone: 0.shallow-g<12 hex> (the count is unknown)
# Exit: 0, or 1 with a message on stderr (no git, no tag for RELEASE=1).
# Never writes anything (status runs without optional locks).
set -eu
export LC_ALL=C GIT_NO_REPLACE_OBJECTS=1 GIT_OPTIONAL_LOCKS=0
top=$1
die() { echo "version: $*" >&2; exit 1; }
g() { git -C "$top" "$@"; }

commit=$(g rev-parse --verify -q HEAD 2>/dev/null) ||
	die "$top is not a git checkout: give VERSION=... SOURCE_DATE_EPOCH=... on the make command line"
# a shallow clone cannot count its commits: its version says so instead of
# failing the build (0.shallow-g...); a release or a verify needs full history
shallow=$(g rev-parse --is-shallow-repository)
# the committer line of the commit object: "committer NAME <MAIL> EPOCH TZ"
epoch=$(g cat-file commit "$commit" | sed -n 's/^committer .* \([0-9][0-9]*\) [-+][0-9]*$/\1/p' | head -n 1)
[ -n "$epoch" ] || die "cannot read the committer time of $commit"
dirty=$(g -c core.excludesFile=/dev/null status --porcelain --untracked-files=normal \
	--ignore-submodules=none 2>/dev/null | head -n 1) || die "git status failed"

if [ "${RELEASE:-0}" = 1 ]; then
	[ -z "$dirty" ] || die "RELEASE=1: the tree has uncommitted changes"
	[ "$shallow" = false ] || die "RELEASE=1: shallow clone (git fetch --unshallow)"
	tags=$(g for-each-ref --points-at "$commit" --format='%(refname:strip=2)' refs/tags)
	case $tags in
	'') die "RELEASE=1: no tag points at $commit" ;;
	*[[:space:]]*) die "RELEASE=1: several tags point at $commit:" $tags ;;
	esac
	version=$tags
else
	if [ "$shallow" = false ]; then count=$(g rev-list --count "$commit"); else count=shallow; fi
	version=0.$count-g$(printf %.12s "$commit")${dirty:+-dirty}
fi
case $version in *[!A-Za-z0-9.+~_-]*) die "unusable version '$version'" ;; esac
echo "$version $epoch"
