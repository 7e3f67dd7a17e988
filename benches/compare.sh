#!/usr/bin/env bash
# Times graft against pax-utils lddtree and against the sysroot's own ldd (in bubblewrap), on the
# host sysroot of the test bed (scripts/testbed.sh host), and checks the performance targets:
#
#   driver tree (libvulkan_lvp.so): >= 20x faster than lddtree, and faster than ldd-in-bwrap
#   every ELF object of the sysroot in one `graft tree --json` run: < 1 s
#   peak RSS of each graft run: < 64 MiB
#
# and, with the runtime of the test bed (scripts/testbed.sh runtime), the plan (issue 3, "Speed"):
#
#   `graft plan --runtime RUNTIME --host HOST --format json`, both ABIs and every driver kind, at least
#   5x faster (goal 10x) than capsule-capture-libs capturing ONE ABI's graphics stack (the ABI it was
#   built for, x86_64) from the same host into the same runtime the way pressure-vessel does it: the
#   same calls, options and patterns (see capsule_runner below); its peak RSS < 64 MiB.
#   capsule-capture-libs is built from its public source outside the repository by
#   benches/build-anchors.sh (tried automatically when it is not found); without it only graft's own
#   figures are printed.
#
# Usage: benches/compare.sh            (env: RUNS=N runs per command, default 20;
#                                        RUNS_ALL=N runs of the all-objects tree, default 5;
#                                        GRAFT_TESTBED=DIR test bed location;
#                                        COMPARE_NO_HYPERFINE=1 to time with a bash loop;
#                                        CAPSULE_CAPTURE_LIBS=PATH the anchor tool, else
#                                        GRAFT_ANCHORS=DIR (default /var/cache/graft-anchors)/bin/;
#                                        COMPARE_NO_ANCHOR_BUILD=1 not to run build-anchors.sh)
# Exit status: 0 all targets met (or test bed missing: skipped), 1 a target missed, 2 setup error.
# Builds graft with `cargo build --release` first. Installs missing tools with apt-get when root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-20}
RUNS_ALL=${RUNS_ALL:-5}
FILE=/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
HOST=${GRAFT_TESTBED:-/var/cache/graft-testbed}/host
RUNTIME=${GRAFT_TESTBED:-/var/cache/graft-testbed}/runtime
ANCHORS=${GRAFT_ANCHORS:-/var/cache/graft-anchors}

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

# --- the plan: graft plan (both ABIs) against capsule-capture-libs (one ABI) -------------------
# capsule_runner TUPLE: writes to stdout a bash script `SCRIPT CAPSULE DIR` that makes, for
# TUPLE, into DIR/<its pid>, the capsule-capture-libs calls of pressure-vessel (steam-runtime-tools 0.2023030x,
# pressure-vessel/runtime.c: pv_runtime_use_provider_graphics_stack, bind_icds,
# pv_runtime_capture_libraries, pv_runtime_collect_libc_family), with their options and patterns,
# in their order:
#   - per module kind (glvnd, egl_external_platform, vulkan, vulkan_exp_layer, vulkan_imp_layer,
#     vdpau, dri), one call capturing the modules given by absolute path into the kind's
#     subdirectory (`no-dependencies:even-if-older:if-exists:if-same-abi:path:ABS`; one file per
#     inode; numbered subdirectories, one call each, when basenames collide);
#   - the main call into lib/TUPLE: libudev (exact-soname), `gl:`, the loader SONAMEs (libvulkan,
#     libvdpau, libva*), the NVIDIA/GLVND globs (even-if-older), the modules given by SONAME
#     (`even-if-older:if-exists:if-same-abi:soname:NAME`) and the dependencies of every module
#     captured into a subdirectory (`only-dependencies:if-exists:if-same-abi:path:ABS`);
#   - when libc.so.6 came from the provider, the glibc call (libidn2, NSS modules);
#   - S2TC's libtxc_dxtn.so, when the provider has one.
# The modules are enumerated here, before timing, the way steam-runtime-tools' SrtSystemInfo finds
# them (only its results matter; its own cost is not timed): EGL vendor and external-platform
# manifests in /etc then /usr/share, Vulkan ICD and layer manifests in /etc/xdg, /etc,
# /usr/local/share, /usr/share ($ORIGIN-style paths dropped, as pressure-vessel does for a provider
# that is not /), `*_dri.so` next to libGLX_mesa/libEGL_mesa/libGL (dri/, xorg/modules/dri/),
# `*_drv_video.so` in libva's dri/, `libvdpau_*.so{,.1}` in libvdpau's vdpau/.
# shellcheck disable=SC2016 # the single-quoted lines are the generated script's own code
capsule_runner() {
  local tuple=$1
  local -a main_pre=(
    if-exists:if-same-abi:exact-soname:libudev.so.1
    if-exists:if-same-abi:exact-soname:libudev.so.0
    gl:
  )
  local n
  for n in libvulkan.so.1 libvdpau.so.1 libva.so.1 libva-drm.so.1 libva-glx.so.1 libva-x11.so.1 \
    libva.so.2 libva-drm.so.2 libva-glx.so.2 libva-x11.so.2; do
    main_pre+=("if-exists:if-same-abi:soname:$n")
  done
  for n in libEGL.so.\* libEGL_nvidia.so.\* libGL.so.\* libGLESv1_CM.so.\* libGLESv1_CM_nvidia.so.\* \
    libGLESv2.so.\* libGLESv2_nvidia.so.\* libGLX.so.\* libGLX_nvidia.so.\* libGLX_indirect.so.\* \
    libGLdispatch.so.\* libOpenGL.so.\* libXNVCtrl.so.\* libcuda.so.\* libglx.so.\* \
    libnvidia-{cbl,cfg,compiler,egl-wayland,eglcore,encode,fatbinaryloader,fbc,glcore,glsi,glvkspirv,ifr,ml,opencl,opticalflow,ptxjitcompiler,rtcore,tls}.so.\* \
    libOpenCL.so.\* libvdpau_nvidia.so.\*; do
    main_pre+=("if-exists:even-if-older:soname-match:$n")
  done

  # lib_dir SONAME: the directory of the provider's copy (a stand-in for its ld.so.cache lookup)
  lib_dir() {
    local d
    for d in "/usr/lib/$tuple" "/lib/$tuple" /usr/lib /lib; do
      if [ -e "$HOST$d/$1" ]; then echo "$d"; return 0; fi
    done
    return 1
  }
  # manifest_modules DIR...: library_path of each *.json in each DIR (strcmp order), resolved as
  # steam-runtime-tools does (relative with a slash: against the manifest's directory).
  manifest_modules() {
    local d f lp
    for d in "$@"; do
      [ -d "$HOST$d" ] || continue
      while IFS= read -r f; do
        sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$HOST$d/$f" |
          while IFS= read -r lp; do
            case $lp in
              '') ;;
              *'$ORIGIN'* | *'${ORIGIN}'* | *'$LIB'* | *'${LIB}'* | *'$PLATFORM'* | *'${PLATFORM}'*) ;;
              /*) echo "$lp" ;;
              */*) echo "$d/$lp" ;;
              *) echo "$lp" ;;
            esac
          done
      done < <(cd "$HOST$d" 2>/dev/null && LC_ALL=C ls -1 -- *.json 2>/dev/null)
    done
  }
  dir_modules() { # dir_modules DIR GLOB...: files of DIR matching a GLOB, sorted
    local d=$1 g f; shift
    [ -d "$HOST$d" ] || return 0
    for g in "$@"; do
      for f in "$HOST$d"/$g; do [ -e "$f" ] && echo "$d/${f##*/}"; done
    done | LC_ALL=C sort -u
  }
  local vk_cfg=(/etc/xdg /etc) vk_data=(/usr/local/share /usr/share) dir
  list_kind() { # list_kind KIND: the kind's modules, one a line
    case $1 in
      glvnd) manifest_modules /etc/glvnd/egl_vendor.d /usr/share/glvnd/egl_vendor.d ;;
      egl_external_platform)
        manifest_modules /etc/egl/egl_external_platform.d /usr/share/egl/egl_external_platform.d ;;
      vulkan | vulkan_exp_layer | vulkan_imp_layer)
        local sub=icd.d
        [ "$1" = vulkan_exp_layer ] && sub=explicit_layer.d
        [ "$1" = vulkan_imp_layer ] && sub=implicit_layer.d
        manifest_modules "${vk_cfg[@]/%//vulkan/$sub}" "${vk_data[@]/%//vulkan/$sub}" ;;
      vdpau)
        if dir=$(lib_dir libvdpau.so.1); then dir_modules "$dir/vdpau" 'libvdpau_*.so' 'libvdpau_*.so.1'; fi ;;
      dri)
        local l seen=' '
        for l in libGLX_mesa.so.0 libEGL_mesa.so.0 libGL.so.1; do
          dir=$(lib_dir "$l") || continue
          case $seen in *" $dir "*) continue ;; esac
          seen+="$dir "
          dir_modules "$dir/dri" '*_dri.so'
          dir_modules "$dir/xorg/modules/dri" '*_dri.so'
        done
        if dir=$(lib_dir libva.so.2) || dir=$(lib_dir libva.so.1); then
          dir_modules "$dir/dri" '*_drv_video.so'
        fi ;;
    esac
  }

  echo '#!/usr/bin/env bash'
  echo "# generated by benches/compare.sh: pressure-vessel's capsule-capture-libs calls for $tuple"
  echo 'set -e'
  echo 'C=$1 D=$2/$$ # a fresh directory each run'
  echo "common=(--remap-link-prefix=/app/=/run/host/app/ --remap-link-prefix=/usr/=/run/host/usr/ --remap-link-prefix=/lib=/run/host/lib --provider=$(printf %q "$HOST") --container=$(printf %q "$RUNTIME") --compare-by=name,provider)"
  echo 'mkdir "$D"'
  printf 'main=('; printf '%q ' "${main_pre[@]}"; echo ')'
  local kind m key base numbered
  local -A inode names
  for kind in glvnd egl_external_platform vulkan vulkan_exp_layer vulkan_imp_layer vdpau dri; do
    local -a sonames=() abs=() uniq=()
    while IFS= read -r m; do
      if [ "${m#/}" = "$m" ]; then sonames+=("$m"); else abs+=("$m"); fi
    done < <(list_kind "$kind")
    for m in "${sonames[@]}"; do
      echo "main+=($(printf %q "even-if-older:if-exists:if-same-abi:soname:$m"))"
    done
    [ ${#abs[@]} -gt 0 ] || continue
    inode=() names=() numbered=0
    for m in "${abs[@]}"; do
      base=${m##*/}
      [ -z "${names[$base]:-}" ] || numbered=1
      names[$base]=1
    done
    for m in "${abs[@]}"; do
      if [ $numbered = 0 ]; then # hard links and symlinks to one file: captured once
        key=$(stat -L -c %d:%i "$HOST$m" 2>/dev/null || echo "$m")
        [ -z "${inode[$key]:-}" ] || continue
        inode[$key]=1
      fi
      uniq+=("$m")
    done
    if [ $numbered = 0 ]; then
      printf '"$C" "${common[@]}" --dest="$D/%s"' "$kind"
      for m in "${uniq[@]}"; do printf ' %q' "no-dependencies:even-if-older:if-exists:if-same-abi:path:$m"; done
      echo
      for m in "${uniq[@]}"; do
        echo "[ ! -L \"\$D/$kind/$(printf %q "${m##*/}")\" ] || main+=($(printf %q "only-dependencies:if-exists:if-same-abi:path:$m"))"
      done
    else
      echo "mkdir \"\$D/$kind\""
      local i=0
      for m in "${uniq[@]}"; do
        echo "\"\$C\" \"\${common[@]}\" --dest=\"\$D/$kind/$i\" $(printf %q "no-dependencies:even-if-older:if-exists:if-same-abi:path:$m")"
        echo "[ ! -L \"\$D/$kind/$i/$(printf %q "${m##*/}")\" ] || main+=($(printf %q "only-dependencies:if-exists:if-same-abi:path:$m"))"
        i=$((i + 1))
      done
    fi
  done
  echo '"$C" "${common[@]}" --dest="$D" "${main[@]}"'
  echo 'if [ -L "$D/libc.so.6" ]; then'
  echo '  "$C" "${common[@]}" --dest="$D" if-exists:libidn2.so.0 if-exists:even-if-older:soname-match:libnss_compat.so.\* if-exists:even-if-older:soname-match:libnss_db.so.\* if-exists:even-if-older:soname-match:libnss_dns.so.\* if-exists:even-if-older:soname-match:libnss_files.so.\*'
  echo 'fi'
  for dir in "/usr/lib/$tuple" "/lib/$tuple"; do
    if [ -e "$HOST$dir/libtxc_dxtn.so" ]; then
      echo "\"\$C\" \"\${common[@]}\" --dest=\"\$D\" $(printf %q "path-match:$dir/libtxc_dxtn.so")"
    fi
  done
}

p_ms='' p_rss='' p1_ms='' p_counts='' c_ms='' c_raw_ms='' c_over_ms='' c_note='' c_links='' CAPSULE='' CAPSULE_TUPLE=''
if [ ! -f "$RUNTIME/.graft-testbed" ]; then
  echo "compare: plan skipped, runtime not built (scripts/testbed.sh runtime; expected at $RUNTIME)"
else
  # What both sides write (graft's staging files, capsule-capture-libs' symlinks) goes to a tmpfs
  # when there is one: on a disk file system the journal makes symlink creation slow and noisy.
  SHM=$TMP
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d -p /dev/shm graft-compare.XXXXXX) || SHM=$TMP
    trap 'rm -rf "$TMP" "$SHM"' EXIT
  fi
  PLAN=("$GRAFT" plan --runtime "$RUNTIME" --host "$HOST" --staging "$SHM/staging" --format json)
  "${PLAN[@]}" >"$TMP/plan.json" 2>"$TMP/err" || {
    rc=$?
    [ $rc = 1 ] || { cat "$TMP/err" >&2; die "graft plan failed (exit $rc)"; }
  }
  for t in x86_64-linux-gnu i386-linux-gnu; do
    grep -q "\"arch\": \"$t\"" "$TMP/plan.json" || echo "compare: note: the plan has no $t library" >&2
  done

  # the anchor tool
  if [ -n "${CAPSULE_CAPTURE_LIBS:-}" ]; then
    CAPSULE=$CAPSULE_CAPTURE_LIBS
  elif [ -x "$ANCHORS/bin/capsule-capture-libs" ]; then
    CAPSULE=$ANCHORS/bin/capsule-capture-libs
  elif [ -z "${COMPARE_NO_ANCHOR_BUILD:-}" ]; then
    CAPSULE=$(GRAFT_ANCHORS=$ANCHORS "$REPO/benches/build-anchors.sh" 2>"$TMP/anchors.err" | tail -n1) ||
      { CAPSULE=; c_note=$(grep -m1 'cannot build' "$TMP/anchors.err" || tail -n1 "$TMP/anchors.err"); }
  else
    c_note="not found ($ANCHORS/bin/capsule-capture-libs) and COMPARE_NO_ANCHOR_BUILD is set"
  fi
  if [ -n "$CAPSULE" ]; then
    case $("$CAPSULE" --print-ld.so 2>/dev/null) in
      */ld-linux-x86-64.so.2) CAPSULE_TUPLE=x86_64-linux-gnu ;;
      */ld-linux.so.2) CAPSULE_TUPLE=i386-linux-gnu ;;
      */ld-linux-aarch64.so.1) CAPSULE_TUPLE=aarch64-linux-gnu ;;
      *) c_note="$CAPSULE does not run (--print-ld.so)"; CAPSULE= ;;
    esac
  fi
  if [ -n "$CAPSULE" ]; then
    capsule_runner "$CAPSULE_TUPLE" >"$TMP/capsule-run.sh"
    mkdir "$SHM/sanity" "$SHM/cap" "$SHM/dry"
    bash "$TMP/capsule-run.sh" "$CAPSULE" "$SHM/sanity" 2>"$TMP/err" ||
      { cat "$TMP/err" >&2; die "capsule-capture-libs fails (bash $TMP/capsule-run.sh)"; }
  fi
fi

if [ -n "${PLAN:-}" ]; then
  echo "compare: plan: runtime $RUNTIME, host $HOST, $RUNS runs each${CAPSULE:+; anchor $CAPSULE ($CAPSULE_TUPLE)}"
  p_ms=$(median_ms "$RUNS" "${PLAN[@]}")
  p_rss=$(peak_kib "${PLAN[@]}")
  # graft check --runtime: the same plan, then verified in the container's view (issue 4)
  CHECK=("$GRAFT" check --runtime "$RUNTIME" --host "$HOST" --staging "$SHM/check" --json)
  k_ms=$(median_ms "$RUNS" "${CHECK[@]}")
  k_rss=$(peak_kib "${CHECK[@]}")
  if [ -n "$CAPSULE" ]; then
    # Each run captures into a fresh directory; the runner's own cost (bash, mkdir, its tests) is
    # timed with `true` in place of the tool and taken off.
    c_raw_ms=$(median_ms "$RUNS" bash "$TMP/capsule-run.sh" "$CAPSULE" "$SHM/cap")
    c_over_ms=$(median_ms "$RUNS" bash "$TMP/capsule-run.sh" true "$SHM/dry")
    c_ms=$(awk -v a="$c_raw_ms" -v b="$c_over_ms" 'BEGIN { d = a - b; if (d < 0) d = 0; printf "%.3f", d }')
    # for reference: graft on the anchor's one ABI, and what each side brings from the host
    p1_ms=$(median_ms "$RUNS" "${PLAN[@]}" --arch "$CAPSULE_TUPLE")
    c_links=$(find "$SHM/sanity" -type l | wc -l)
    c_links="$c_links symlinks ($(find "$SHM/sanity" -mindepth 2 -maxdepth 2 -type l | wc -l) in lib/<tuple>, the rest module links in kind subdirectories)"
    if command -v jq >/dev/null; then
      p_counts=$(jq -r --arg t "$CAPSULE_TUPLE" '"\([.libraries[] | select(.arch == $t and .chosen == "host")] | length) host libraries and \([.drivers[] | select(.arch == $t and .status == "ok")] | length) ok driver modules (\([.drivers[] | select(.arch == $t and .status == "ok") | .kind] | group_by(.) | map("\(.[0]) \(length)") | join(", ")))"' "$TMP/plan.json" 2>/dev/null || true)
    fi
  fi
fi

# --- report -----------------------------------------------------------------------------------
printf '\n%-44s %12s %12s\n' "command" "median ms" "peak RSS"
printf '%-44s %12s %9s KiB\n' "graft tree (driver closure)" "$g_ms" "$g_rss"
printf '%-44s %12s\n' "lddtree -R (pax-utils)" "$l_ms"
printf '%-44s %12s\n' "ldd in bwrap (the sysroot's ld.so)" "$b_ms"
printf '%-44s %12s %9s KiB\n' "graft tree --json, all ${#ALL[@]} ELF objects" "$a_ms" "$a_rss"
if [ -n "$p_ms" ]; then
  printf '%-44s %12s %9s KiB\n' "graft plan --format json (both ABIs)" "$p_ms" "$p_rss"
  printf '%-44s %12s %9s KiB\n' "graft check --runtime (plan + verify)" "$k_ms" "$k_rss"
  if [ -n "$c_ms" ]; then
    printf '%-44s %12s\n' "graft plan --arch ${CAPSULE_TUPLE%%-*} (reference)" "$p1_ms"
    printf '%-44s %12s\n' "capsule-capture-libs, ${CAPSULE_TUPLE%%-*} (pv's calls)" "$c_ms"
    echo "  (capsule-capture-libs: $c_raw_ms ms measured, less $c_over_ms ms for the runner script)"
  fi
fi
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
if [ -n "$p_ms" ]; then
  if [ -n "$c_ms" ]; then
    r_capsule=$(ratio "$c_ms" "$p_ms")
    echo "plan ratio: capsule-capture-libs ($CAPSULE_TUPLE only) / graft plan (both ABIs) = ${r_capsule}x (goal 10x:" \
      "$(awk -v r="$r_capsule" 'BEGIN { print (r >= 10 ? "met" : "not met") }'));" \
      "against graft plan --arch $CAPSULE_TUPLE: $(ratio "$c_ms" "$p1_ms")x"
    echo "  brought from the host for $CAPSULE_TUPLE: capsule-capture-libs $c_links;" \
      "graft plan ${p_counts:-(jq missing)}"
    verdict "graft plan >= 5x faster than capsule-capture-libs" \
      "$(awk -v r="$r_capsule" 'BEGIN { print (r >= 5) }')" "${r_capsule}x; $p_ms ms against $c_ms ms"
  else
    echo "  SKIP  graft plan against capsule-capture-libs (${c_note:-not available}); graft plan median $p_ms ms"
  fi
  verdict "peak RSS < 64 MiB (graft plan)" "$(awk -v k="$p_rss" 'BEGIN { print (k < 65536) }')" "$p_rss KiB"
  r_check=$(ratio "$k_ms" "$p_ms")
  verdict "check --runtime within 2x of plan" "$(awk -v r="$r_check" 'BEGIN { print (r <= 2) }')" \
    "${r_check}x; $k_ms ms against $p_ms ms"
fi
exit $FAILED
