#!/usr/bin/env bash
# fetch-quickjs.sh CACHE_DIR VERSION DSC_SHA256 — download Debian's quickjs
# source package, exactly VERSION, into CACHE_DIR and verify it.
#
# Nothing of QuickJS is committed to this repository: the engine is built
# from Debian's source package (trixie, MIT licence), fetched with apt's
# ordinary client. apt runs with a private configuration in
# CACHE_DIR/apt — one deb-src entry for trixie, its own lists and archives —
# so it needs no root, changes nothing in /etc/apt, and works on any Debian
# or Ubuntu machine whatever its release.
#
# Verification, twice: apt checks the index's signature (Debian's archive
# keyring) and each file's hash against the signed index; then this script
# checks the .dsc against DSC_SHA256, pinned in guests/Makefile, and every
# file the .dsc lists against the SHA-256 sums it carries. A version that
# trixie no longer carries fails with the versions it has: pin a new one in
# guests/Makefile (QJS_DEB, QJS_DSC_SHA256) and check the patch still applies.
set -euo pipefail

cache=$1 version=$2 dsc_sha256=$3
dsc=quickjs_${version}.dsc
mkdir -p "$cache"
cd "$cache"

verify() {
	[ -f "$dsc" ] || return 1
	echo "$dsc_sha256  $dsc" | sha256sum --quiet -c - 2>/dev/null || return 1
	# The Checksums-Sha256 lines of the .dsc: " <sha256> <size> <file>".
	awk '/^Checksums-Sha256:/ {on=1; next} /^[^ ]/ {on=0} on && NF==3 {print $1 "  " $3}' "$dsc" |
		sha256sum --quiet -c - >/dev/null 2>&1
}

if verify; then
	exit 0
fi

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if ! command -v apt-get >/dev/null 2>&1 || [ ! -f "$keyring" ]; then
	echo "guests/js: fetching QuickJS needs apt-get and $keyring (package debian-archive-keyring)" >&2
	exit 1
fi

mkdir -p apt/lists/partial apt/archives/partial
echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian trixie main" >apt/sources.list
apt=(apt-get -q
	-o Dir::Etc::SourceList="$PWD/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$PWD/apt/lists" -o Dir::Cache::Archives="$PWD/apt/archives"
	-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
	-o APT::Sandbox::User="$(id -un)")
echo "guests/js: downloading Debian's quickjs $version source package (trixie) into $cache"
if ! "${apt[@]}" update >apt/update.log 2>&1; then
	cat apt/update.log >&2
	echo "guests/js: apt-get update of the trixie source index failed (network?)" >&2
	exit 1
fi
if ! "${apt[@]}" source --download-only "quickjs=$version" >apt/source.log 2>&1; then
	cat apt/source.log >&2
	echo >&2
	echo "guests/js: Debian trixie does not carry quickjs $version any more; it has:" >&2
	"${apt[@]}" showsrc quickjs 2>/dev/null | awk '/^Version:/ {print "    " $2}' >&2 || true
	echo "    pin one of them in guests/Makefile (QJS_DEB, QJS_DSC_SHA256) and check guests/js/quickjs-wasi.patch" >&2
	exit 1
fi
if ! verify; then
	echo "guests/js: $cache/$dsc or a file it lists does not match its pinned SHA-256 ($dsc_sha256)" >&2
	exit 1
fi
