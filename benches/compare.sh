#!/usr/bin/env bash
# Times graft against pax-utils lddtree and against the sysroot's own ldd (in bubblewrap), on the
# host sysroot of the test bed (scripts/testbed.sh host), and checks the performance targets:
#
#   driver tree (libvulkan_lvp.so): >= 20x faster than lddtree, and faster than ldd-in-bwrap
#   every ELF object of the sysroot in one `graft tree --json` run: < 1 s
#   peak RSS of each graft run: < 64 MiB
#
# Usage: benches/compare.sh            (env: RUNS=N runs per command, default 20;
#                                        RUNS_ALL=N runs of the all-objects tree, default 5;
#                                        GRAFT_TESTBED=DIR test bed location;
#                                        COMPARE_NO_HYPERFINE=1 to time with a bash loop)
# Exit status: 0 all targets met (or test bed missing: skipped), 1 a target missed, 2 setup error.
# Builds graft with `cargo build --release` first. Installs missing tools with apt-get when root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-20}
RUNS_ALL=${RUNS_ALL:-5}
FILE=/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
HOST=${GRAFT_TESTBED:-/var/cache/graft-testbed}/host

die() { echo "compare: $*" >&2; exit 2; }

if [ ! -f "$HOST/.graft-testbed" ]; then
  echo "compare: skipped, test bed not built (scripts/testbed.sh host; expected at $HOST)"
  exit 0
fi
[ -e "$HOST$FILE" ] || die "$HOST$FILE does not exist"

# --- tools ------------------------------------------------------------------------------------
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "compare: installing $* with apt-get" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1 ||
      echo "compare: apt-get install $* failed" >&2
  fi
}
pkgs=()
command -v bwrap >/dev/null || pkgs+=(bubblewrap)
command -v lddtree >/dev/null || pkgs+=(pax-utils python3-pyelftools)
[ -x /usr/bin/time ] || pkgs+=(time)
[ -n "${COMPARE_NO_HYPERFINE:-}" ] || command -v hyperfine >/dev/null || pkgs+=(hyperfine)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
command -v bwrap >/dev/null || die "bwrap missing (apt-get install bubblewrap)"
command -v lddtree >/dev/null || die "lddtree missing (apt-get install pax-utils python3-pyelftools)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"

# pax-utils' lddtree is a Python script needing pyelftools; an interpreter first on PATH (pyenv,
# a venv) may lack it, so fall back to the system Python that the Debian package depends on.
LDDTREE=(lddtree)
if ! lddtree -h >/dev/null 2>&1; then
  if /usr/bin/python3 -c 'import elftools' 2>/dev/null; then
    LDDTREE=(/usr/bin/python3 "$(command -v lddtree)")
  else
    die "lddtree does not run (is python3-pyelftools installed?)"
  fi
fi
HYPERFINE=
if [ -z "${COMPARE_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then HYPERFINE=hyperfine; fi

# --- build ------------------------------------------------------------------------------------
(cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
GRAFT=${CARGO_TARGET_DIR:-$REPO/target}/release/graft
[ -x "$GRAFT" ] || die "no binary at $GRAFT"

# --- helpers ----------------------------------------------------------------------------------
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# median_ms RUNS CMD...: median wall time of CMD in milliseconds (stdout/stderr discarded).
median_ms() {
  local runs=$1; shift
  if [ -n "$HYPERFINE" ]; then
    local cmd
    cmd=$(printf '%q ' "$@")
    # -i: graft exits 1 when something is missing; that is a result, not a failure.
    "$HYPERFINE" -N -i --style none --warmup 2 --runs "$runs" --export-json "$TMP/h.json" -- "$cmd" \
      >/dev/null 2>&1 || die "hyperfine failed on: $cmd"
    awk -F: '/"median"/ { gsub(/[ ,]/, "", $2); printf "%.3f\n", $2 * 1000; exit }' "$TMP/h.json"
  else
    local i t0 t1
    "$@" >/dev/null 2>&1 || true # warm-up
    for ((i = 0; i < runs; i++)); do
      t0=$EPOCHREALTIME
      "$@" >/dev/null 2>&1 || true
      t1=$EPOCHREALTIME
      echo "$t0 $t1"
    done | awk '{ print ($2 - $1) * 1000 }' | sort -g |
      awk '{ a[NR] = $1 } END { if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f\n", m }'
  fi
}

# peak_kib CMD...: peak resident set size of CMD in KiB.
peak_kib() {
  /usr/bin/time -f %M -o "$TMP/rss" "$@" >/dev/null 2>&1 || true
  tail -n1 "$TMP/rss"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }

FAILED=0
verdict() { # verdict NAME OK(0/1) DETAIL
  if [ "$2" = 1 ]; then echo "  PASS  $1 ($3)"; else echo "  FAIL  $1 ($3)"; FAILED=1; fi
}

# --- sanity: each tool runs on the file ----------------------------------------------------------
"$GRAFT" tree --root "$HOST" "$FILE" >"$TMP/graft.out" 2>&1 || {
  rc=$?
  [ $rc = 1 ] || { cat "$TMP/graft.out" >&2; die "graft tree failed (exit $rc)"; }
}
"${LDDTREE[@]}" -R "$HOST" "$FILE" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; die "lddtree fails"; }
bwrap --ro-bind "$HOST" / --proc /proc --dev /dev ldd "$FILE" >/dev/null 2>"$TMP/err" ||
  { cat "$TMP/err" >&2; die "ldd in bwrap fails"; }

# --- the driver tree --------------------------------------------------------------------------
echo "compare: host sysroot $HOST, file $FILE, $RUNS runs each${HYPERFINE:+ (hyperfine)}"
g_ms=$(median_ms "$RUNS" "$GRAFT" tree --root "$HOST" "$FILE")
l_ms=$(median_ms "$RUNS" "${LDDTREE[@]}" -R "$HOST" "$FILE")
b_ms=$(median_ms "$RUNS" bwrap --ro-bind "$HOST" / --proc /proc --dev /dev ldd "$FILE")
g_rss=$(peak_kib "$GRAFT" tree --root "$HOST" "$FILE")

# --- every ELF object of the sysroot, one invocation ------------------------------------------
mapfile -t ALL < <(
  cd "$HOST" && {
    find usr/lib/x86_64-linux-gnu usr/lib/i386-linux-gnu -type f -printf '%i %p\n' 2>/dev/null || true
    find usr/bin -maxdepth 1 -type f -printf '%i %p\n' 2>/dev/null || true
  } | sort -u -k1,1n | cut -d' ' -f2- | while IFS= read -r p; do
    magic=
    IFS= read -r -n 4 magic <"$p" 2>/dev/null || true
    if [ "$magic" = $'\x7fELF' ]; then echo "/$p"; fi
  done | sort)
[ ${#ALL[@]} -gt 0 ] || die "no ELF objects found under $HOST"
printf '%s\n' "${ALL[@]}" >"$TMP/all.txt"
a_ms=$(median_ms "$RUNS_ALL" "$GRAFT" tree --root "$HOST" --json "${ALL[@]}")
a_rss=$(peak_kib "$GRAFT" tree --root "$HOST" --json "${ALL[@]}")

# --- report -----------------------------------------------------------------------------------
printf '\n%-44s %12s %12s\n' "command" "median ms" "peak RSS"
printf '%-44s %12s %9s KiB\n' "graft tree (driver closure)" "$g_ms" "$g_rss"
printf '%-44s %12s\n' "lddtree -R (pax-utils)" "$l_ms"
printf '%-44s %12s\n' "ldd in bwrap (the sysroot's ld.so)" "$b_ms"
printf '%-44s %12s %9s KiB\n' "graft tree --json, all ${#ALL[@]} ELF objects" "$a_ms" "$a_rss"
echo
r_lddtree=$(ratio "$l_ms" "$g_ms")
r_ldd=$(ratio "$b_ms" "$g_ms")
echo "ratios: lddtree/graft = ${r_lddtree}x, ldd/graft = ${r_ldd}x"
echo "targets:"
verdict "driver tree >= 20x faster than lddtree" "$(awk -v r="$r_lddtree" 'BEGIN { print (r >= 20) }')" "${r_lddtree}x"
verdict "driver tree faster than ldd in bwrap" "$(awk -v r="$r_ldd" 'BEGIN { print (r > 1) }')" "${r_ldd}x"
verdict "all ${#ALL[@]} objects < 1 s" "$(awk -v t="$a_ms" 'BEGIN { print (t < 1000) }')" "$a_ms ms"
verdict "peak RSS < 64 MiB (driver tree)" "$(awk -v k="$g_rss" 'BEGIN { print (k < 65536) }')" "$g_rss KiB"
verdict "peak RSS < 64 MiB (all objects)" "$(awk -v k="$a_rss" 'BEGIN { print (k < 65536) }')" "$a_rss KiB"
exit $FAILED
