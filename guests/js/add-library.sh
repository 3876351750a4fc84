#!/bin/sh
# add-library.sh OUT.wasm IN.wasm ENTRY=FILE... — writes IN.wasm with the
# custom section "wasmtask.library" appended (abi/SPEC.md, "The module's
# library"): for each ENTRY=FILE, the entry's name, a NUL byte, the file's
# bytes and a NUL byte. A custom section may follow the last section of a
# module, so this only appends. Files must not contain NUL bytes.
set -eu
out=$1 in=$2
shift 2
tmp=$out.payload
: >"$tmp"
for e in "$@"; do
	name=${e%%=*} file=${e#*=}
	if [ "$(tr -d '\000' <"$file" | wc -c)" -ne "$(wc -c <"$file")" ]; then
		echo "add-library.sh: $file contains a NUL byte" >&2
		exit 1
	fi
	printf '%s\000' "$name" >>"$tmp"
	cat "$file" >>"$tmp"
	printf '\000' >>"$tmp"
done
# leb writes $1 as an unsigned LEB128.
leb() {
	n=$1
	while :; do
		b=$((n & 127)) n=$((n >> 7))
		[ "$n" -ne 0 ] && b=$((b | 128))
		printf "\\$(printf %03o "$b")"
		[ "$n" -eq 0 ] && break
	done
}
sec=wasmtask.library
size=$(( ${#sec} + 1 + $(wc -c <"$tmp") ))
{ cat "$in"; printf '\000'; leb "$size"; leb "${#sec}"; printf %s "$sec"; cat "$tmp"; } >"$out.tmp"
rm -f "$tmp"
mv "$out.tmp" "$out"
