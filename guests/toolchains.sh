#!/usr/bin/env bash
# toolchains.sh LANG... — make sure the guest toolchains of the given
# languages (c, rust, wat, assemblyscript, js; go needs nothing) are installed,
# installing what is missing with apt-get (Debian packages) first.
#
# It prints nothing when everything is there. When a tool is still missing
# after the install attempt it exits 1 with the command to run by hand: the
# guests of that language cannot be built, and make stops. Nothing is ever
# skipped silently; with CI=true the message says so explicitly.
#
# AssemblyScript's compiler itself is an npm package pinned by
# assemblyscript/package-lock.json; the Makefile installs it with `npm ci`.
# The JavaScript engine (js) is built with the C toolchain from QuickJS's
# Debian source package, which js/fetch-quickjs.sh downloads with apt-get
# (its own deb-src entry; no root needed) and which needs xz and patch.
set -euo pipefail

# requirement: "package:probe" where probe is a command name or an absolute path.
reqs_c=(clang-14:clang-14 lld-14:wasm-ld-14 wasi-libc:/usr/include/wasm32-wasi/stdio.h
	libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a)
reqs_rust=(rustc:/usr/bin/rustc libstd-rust-dev-wasm32:/usr/lib/rustlib/wasm32-wasi/lib)
reqs_wat=(wabt:wat2wasm binaryen:wasm-opt)
reqs_assemblyscript=(nodejs:node npm:npm)
reqs_js=("${reqs_c[@]}" xz-utils:xz patch:patch debian-archive-keyring:/usr/share/keyrings/debian-archive-keyring.gpg)

have() {
	case "$1" in
	/*) [ -e "$1" ] || compgen -G "$1" >/dev/null ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

# missing LANG... prints the packages whose probe fails.
missing() {
	local lang req
	for lang in "$@"; do
		local -n reqs="reqs_${lang//-/_}"
		for req in "${reqs[@]}"; do
			have "${req#*:}" || echo "${req%%:*}"
		done
	done | sort -u
}

langs=()
for lang in "$@"; do
	case "$lang" in
	go) ;;
	c | rust | wat | assemblyscript | js) langs+=("$lang") ;;
	*) echo "toolchains.sh: unknown guest language $lang" >&2; exit 2 ;;
	esac
done
[ ${#langs[@]} -gt 0 ] || exit 0

# The clang resource dir moves with the point release; accept any 14.x.
if [ ! -e /usr/lib/llvm-14/lib/clang/14.0.6 ] && compgen -G '/usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a' >/dev/null; then
	reqs_c[3]="libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a"
	reqs_js[3]=${reqs_c[3]}
fi

pkgs=$(missing "${langs[@]}")
[ -n "$pkgs" ] || exit 0

echo "guests: installing missing toolchain packages for ${langs[*]}:" $pkgs
sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo="sudo -n"
	fi
fi
if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
	export DEBIAN_FRONTEND=noninteractive
	# Several languages may be checked at once (make -j): wait for the dpkg lock.
	lock=(-o DPkg::Lock::Timeout=300)
	$sudo apt-get "${lock[@]}" update -qq || true
	# shellcheck disable=SC2086
	$sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends $pkgs || true
fi

still=$(missing "${langs[@]}")
if [ -n "$still" ]; then
	{
		echo
		echo "guests: cannot build the ${langs[*]} guests: missing" $still
		echo "        install them with: sudo apt-get update && sudo apt-get install -y" $still
		if [ "${CI:-}" = true ]; then
			echo "        CI=true: a missing guest toolchain is a failure, never a skip."
		fi
		echo
	} >&2
	exit 1
fi
