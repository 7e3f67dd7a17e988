#!/usr/bin/env bash
# Builds the anchor tool of the speed comparison, capsule-capture-libs (libcapsule, as shipped in
# steam-runtime-tools / pressure-vessel), from its public source, OUTSIDE this repository. Nothing of
# it is committed or vendored here: the source is exported from a git directory with `git archive`
# into the prefix and compiled there.
#
# Usage: benches/build-anchors.sh
#   env: GRAFT_ANCHORS=DIR   prefix (default /var/cache/graft-anchors); the tool lands in DIR/bin
#        CAPSULE_SRC=GITDIR  a clone (bare or not) of steam-runtime-tools (libcapsule is vendored in
#                            its subprojects/libcapsule) or of libcapsule itself; by default the first
#                            of /work/.mirror/*+steam-runtime-tools/repo, /work/.mirror/*+libcapsule/repo
#        CAPSULE_REV=REV     revision to build (default HEAD)
#        FORCE=1             rebuild even when DIR/bin already holds a build of that revision
# Prints the path of the binary on the last line of stdout. If it cannot be built, prints why in
# one line on stderr and exits 1 (2 for a usage error).
#
# How it is built: the way steam-runtime-tools' own Meson build does it (helpers/meson.build), as a
# single translation unit that #includes libcapsule's utils/{ld-cache,ld-libs,library-cmp,tools,
# utils,capture-libs}.c, compiled with HOST_PREFIX="<tuple>-" and linked with -lelf -ldl. It needs
# only a C compiler and libelf's headers (Debian: gcc, libelf-dev); no GLib, no autotools. When run
# as root with apt-get available, missing ones are installed.
set -euo pipefail

PREFIX=${GRAFT_ANCHORS:-/var/cache/graft-anchors}
REV=${CAPSULE_REV:-HEAD}

fail() { echo "build-anchors: cannot build capsule-capture-libs: $*" >&2; exit 1; }

# --- source ------------------------------------------------------------------------------------
SRC=${CAPSULE_SRC:-}
if [ -z "$SRC" ]; then
  for c in /work/.mirror/*+steam-runtime-tools/repo /work/.mirror/*+libcapsule/repo; do
    if [ -d "$c" ]; then SRC=$c; break; fi
  done
fi
[ -n "$SRC" ] || fail "no source: set CAPSULE_SRC to a git directory of steam-runtime-tools or libcapsule"
command -v git >/dev/null || fail "git is not installed"
GIT=(git --git-dir="$SRC")
[ -d "$SRC/.git" ] && GIT=(git --git-dir="$SRC/.git")
commit=$("${GIT[@]}" rev-parse --verify --quiet "$REV^{commit}" 2>/dev/null) ||
  fail "$SRC is not a git directory holding revision $REV"

if "${GIT[@]}" cat-file -e "$commit:subprojects/libcapsule/utils/capture-libs.c" 2>/dev/null; then
  SUB=subprojects/libcapsule # steam-runtime-tools
elif "${GIT[@]}" cat-file -e "$commit:utils/capture-libs.c" 2>/dev/null; then
  SUB=. # libcapsule's own repository
else
  fail "$SRC@${commit:0:12} has neither subprojects/libcapsule/utils/capture-libs.c nor utils/capture-libs.c"
fi
if [ "$SUB" = . ]; then UTILS=utils; else UTILS=$SUB/utils; fi
# libcapsule's release, from its Debian changelog (e.g. 0.20221006.0), else the commit
if [ "$SUB" = . ]; then cl=debian/changelog; else cl=$SUB/debian/changelog; fi
version=$("${GIT[@]}" show "$commit:$cl" 2>/dev/null | sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p') || true
[ -n "$version" ] || version=${commit:0:12}

# --- already built? ------------------------------------------------------------------------------
BIN=$PREFIX/bin/capsule-capture-libs
STAMP=$PREFIX/bin/capsule-capture-libs.source
if [ -z "${FORCE:-}" ] && [ -x "$BIN" ] && [ -f "$STAMP" ] && grep -qx "commit=$commit" "$STAMP" &&
  "$BIN" --print-ld.so >/dev/null 2>&1; then
  echo "build-anchors: capsule-capture-libs of ${commit:0:12} already built (FORCE=1 rebuilds)" >&2
  echo "$BIN"
  exit 0
fi

# --- build dependencies --------------------------------------------------------------------------
CC=${CC:-cc}
have_gelf() { echo '#include <gelf.h>' | "$CC" -E -x c - >/dev/null 2>&1; }
missing=()
command -v "$CC" >/dev/null || missing+=(gcc libc6-dev)
if ! command -v "$CC" >/dev/null || ! have_gelf; then missing+=(libelf-dev); fi
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "build-anchors: installing ${missing[*]} with apt-get" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
    >/dev/null 2>&1 || fail "apt-get install ${missing[*]} failed"
fi
command -v "$CC" >/dev/null || fail "no C compiler ($CC); install gcc"
have_gelf || fail "libelf headers (gelf.h) missing; install libelf-dev"

TUPLE=$("$CC" -print-multiarch 2>/dev/null || true)
[ -n "$TUPLE" ] || TUPLE=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
[ -n "$TUPLE" ] || TUPLE=$("$CC" -dumpmachine | sed 's/-pc-/-/; s/-unknown-/-/')

# --- export the source into the prefix (never into this repository) -----------------------------
case "$(realpath -m "$PREFIX")/" in
  "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/"*) fail "prefix $PREFIX is inside the repository" ;;
esac
mkdir -p "$PREFIX/src" "$PREFIX/bin" || fail "cannot create $PREFIX"
WORK=$PREFIX/src/libcapsule-${commit:0:12}
rm -rf "$WORK" && mkdir -p "$WORK"
paths=("$UTILS")
[ "$SUB" = subprojects/libcapsule ] && "${GIT[@]}" cat-file -e "$commit:helpers/capture-libs.c" 2>/dev/null &&
  paths+=(helpers/capture-libs.c)
"${GIT[@]}" archive --format=tar "$commit" -- "${paths[@]}" | tar -x -C "$WORK" ||
  fail "git archive of ${paths[*]} from $SRC failed"

# The single translation unit: steam-runtime-tools' own helpers/capture-libs.c when there is one,
# otherwise the same list of #includes written here (libcapsule's Makefile.am links the same files).
UNIT=helpers/capture-libs.c
if [ ! -f "$WORK/$UNIT" ]; then
  UNIT=capture-libs-unit.c
  {
    echo '#pragma GCC diagnostic ignored "-Wpointer-arith"'
    for f in ld-cache ld-libs library-cmp tools utils capture-libs; do
      echo "#include \"$UTILS/$f.c\""
    done
  } >"$WORK/$UNIT"
fi

ELF_CFLAGS=$(pkg-config --cflags libelf 2>/dev/null || true)
ELF_LIBS=$(pkg-config --libs libelf 2>/dev/null || echo -lelf)
# shellcheck disable=SC2086 # word splitting of pkg-config output is intended
(cd "$WORK" && "$CC" -O2 -D_GNU_SOURCE=1 -fvisibility=hidden -w -I. -I"$UTILS" $ELF_CFLAGS \
  -DHOST_PREFIX="\"$TUPLE-\"" -DPACKAGE_TARNAME='"libcapsule"' -DPACKAGE_VERSION="\"$version\"" \
  -o capsule-capture-libs "$UNIT" $ELF_LIBS -ldl) >"$WORK/build.log" 2>&1 ||
  fail "compilation failed: $(grep -m1 -i error "$WORK/build.log" || tail -n1 "$WORK/build.log")"

out=$("$WORK/capsule-capture-libs" --print-ld.so 2>&1) || fail "the built tool does not run: $out"
install -m 0755 "$WORK/capsule-capture-libs" "$BIN.new" && mv -f "$BIN.new" "$BIN"
ln -f "$BIN" "$PREFIX/bin/$TUPLE-capsule-capture-libs"
printf 'repository=%s\ncommit=%s\nversion=%s\nsource=%s\ntuple=%s\n' \
  "$SRC" "$commit" "$version" "$SUB" "$TUPLE" >"$STAMP"
echo "build-anchors: built capsule-capture-libs $version (${commit:0:12}, $SUB of $SRC) for $TUPLE; its ld.so: $out" >&2
echo "$BIN"
