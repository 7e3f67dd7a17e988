#!/bin/sh
# Compiles graft's test-bed probes (probes/*.c) for x86_64 and i386:
#
#   probes/build.sh OUTDIR     writes OUTDIR/<probe>-x86_64 and OUTDIR/<probe>-i386
#
# Each probe dlopens its loader and declares the types it uses, so only a C compiler with 32-bit
# multilib support (Debian: gcc gcc-multilib libc6-dev) is needed. scripts/testbed.sh runs this
# inside a bullseye chroot, so the binaries need no newer glibc than the runtime's 2.31.
# CC overrides the compiler (default gcc).
set -eu

[ $# -eq 1 ] || { echo "usage: probes/build.sh OUTDIR" >&2; exit 2; }
out=$1
src=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
mkdir -p "$out"

for c in "$src"/*.c; do
  name=$(basename "$c" .c)
  for target in 64:x86_64 32:i386; do
    bits=${target%%:*}
    arch=${target#*:}
    "$cc" -m"$bits" -std=gnu99 -O2 -Wall -Wextra -o "$out/$name-$arch" "$c" -ldl
  done
done
