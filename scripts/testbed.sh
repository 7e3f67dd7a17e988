#!/usr/bin/env bash
# Builds and caches graft's real test bed: Debian sysroots made with debootstrap.
#
#   scripts/testbed.sh [NAME...]     build what is missing (default: all), print each sysroot's path
#   scripts/testbed.sh --path NAME   print where NAME lives (built or not)
#
# Sysroots:
#   runtime      bullseye minbase + GL/EGL/Vulkan loaders, Mesa 20.3, amd64 + i386
#   host         trixie minbase + Mesa 25 drivers of every kind, amd64 + i386
#   host-nvidia  bookworm minbase + NVIDIA's userspace (non-free, contrib), amd64 + i386
#   build        bullseye minbase + gcc, gcc-multilib (amd64 with i386 multilib): compiles the probes
#
# Probes: after `runtime` is built (also when NAME is `probes`), probes/*.c are compiled with
# probes/build.sh inside the `build` sysroot for x86_64 and i386 and installed as
# runtime/usr/local/bin/<probe>-x86_64 and <probe>-i386. They are rebuilt only when the probe
# sources change (their hash is stored in runtime/usr/local/share/graft-probes.hash).
#
# Cache: $GRAFT_TESTBED (default /var/cache/graft-testbed). A sysroot is rebuilt only when the
# recipe below changes (its hash is stored next to it). Needs root and Debian's package mirror.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTBED=${GRAFT_TESTBED:-/var/cache/graft-testbed}
MIRROR=${GRAFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

recipe() {
  case "$1" in
    runtime)
      echo "suite=bullseye components=main"
      echo "amd64=libvulkan1 libegl1 libgl1 libgles2 libglvnd0 vulkan-tools mesa-utils"
      echo "i386=libc6:i386 libvulkan1:i386 libgl1:i386 libegl1:i386 libstdc++6:i386"
      ;;
    host)
      echo "suite=trixie components=main"
      echo "amd64=mesa-vulkan-drivers libegl-mesa0 libgl1-mesa-dri libglx-mesa0 libegl1 libgl1 libvulkan1 mesa-va-drivers mesa-vdpau-drivers libgbm1 mesa-utils vulkan-tools"
      echo "i386=mesa-vulkan-drivers:i386 libgl1-mesa-dri:i386 libegl-mesa0:i386 libglx-mesa0:i386 libegl1:i386 libgl1:i386 libvulkan1:i386 mesa-va-drivers:i386"
      ;;
    host-nvidia)
      echo "suite=bookworm components=main,contrib,non-free,non-free-firmware"
      echo "amd64=nvidia-driver-libs nvidia-vulkan-icd nvidia-egl-icd libgl1-nvidia-glvnd-glx libglvnd0"
      echo "i386=nvidia-driver-libs:i386 nvidia-vulkan-icd:i386 nvidia-egl-icd:i386 libgl1-nvidia-glvnd-glx:i386 libglvnd0:i386"
      ;;
    build)
      echo "suite=bullseye components=main"
      echo "amd64=gcc gcc-multilib libc6-dev"
      echo "i386="
      ;;
    *) echo "testbed.sh: unknown sysroot '$1' (runtime, host, host-nvidia, build)" >&2; return 2 ;;
  esac
}

field() { recipe "$1" | sed -n "s/^$2=//p"; }

ensure_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

in_chroot() {
  local root=$1; shift
  mount -t proc proc "$root/proc"
  local rc=0
  DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@" || rc=$?
  umount "$root/proc"
  return $rc
}

build() {
  local name=$1 dest="$TESTBED/$1"
  local hash; hash=$(recipe "$name" | sha256sum | cut -c1-16)
  if [ -f "$dest/.graft-testbed" ] && [ "$(cat "$dest/.graft-testbed")" = "$hash" ]; then
    echo "$dest"; return 0
  fi
  ensure_tools
  local suite comps work="$TESTBED/.$name.tmp"
  suite=$(field "$name" suite | cut -d' ' -f1)
  comps=$(recipe "$name" | sed -n 's/.*components=//p')
  rm -rf "$work" "$dest"
  mkdir -p "$TESTBED"
  echo "testbed: debootstrap $suite into $work" >&2
  debootstrap --variant=minbase --components="$comps" "$suite" "$work" "$MIRROR" >"$TESTBED/$name.log" 2>&1 \
    || { echo "testbed: debootstrap failed, see $TESTBED/$name.log" >&2; return 1; }
  printf 'deb %s %s %s\n' "$MIRROR" "$suite" "${comps//,/ }" >"$work/etc/apt/sources.list"
  # shellcheck disable=SC2046 # the package lists are meant to split into words
  {
    in_chroot "$work" dpkg --add-architecture i386 &&
      in_chroot "$work" apt-get update -q &&
      in_chroot "$work" apt-get install -y -q --no-install-recommends $(field "$name" amd64) $(field "$name" i386) &&
      in_chroot "$work" apt-get clean
  } >>"$TESTBED/$name.log" 2>&1 || { echo "testbed: apt-get failed, see $TESTBED/$name.log" >&2; return 1; }
  echo "$hash" >"$work/.graft-testbed"
  mv "$work" "$dest"
  echo "$dest"
}

probes_hash() {
  (cd "$REPO/probes" && sha256sum -- build.sh ./*.c) | sha256sum | cut -c1-16
}

# Compiles probes/*.c in the `build` sysroot and installs them into the runtime's /usr/local/bin.
install_probes() {
  local runtime="$TESTBED/runtime" stamp="$TESTBED/runtime/usr/local/share/graft-probes.hash"
  [ -f "$runtime/.graft-testbed" ] || build runtime >/dev/null
  local hash; hash=$(probes_hash)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then return 0; fi
  local broot; broot=$(build build)
  local work="$broot/tmp/graft-probes"
  rm -rf "$work"
  mkdir -p "$work/src" "$work/out"
  cp "$REPO/probes/build.sh" "$REPO"/probes/*.c "$work/src/"
  echo "testbed: compiling probes in $broot" >&2
  in_chroot "$broot" /bin/sh /tmp/graft-probes/src/build.sh /tmp/graft-probes/out \
    >"$TESTBED/probes.log" 2>&1 || { echo "testbed: probe build failed, see $TESTBED/probes.log" >&2; return 1; }
  mkdir -p "$runtime/usr/local/bin" "$runtime/usr/local/share"
  rm -f "$stamp"
  local f
  for f in "$work"/out/*; do
    install -m 0755 "$f" "$runtime/usr/local/bin/.$(basename "$f").new"
    mv -f "$runtime/usr/local/bin/.$(basename "$f").new" "$runtime/usr/local/bin/$(basename "$f")"
  done
  rm -rf "$work"
  echo "$hash" >"$stamp"
  echo "testbed: probes installed in $runtime/usr/local/bin ($(cd "$runtime/usr/local/bin" && echo ./*probe-*))" >&2
}

if [ "${1:-}" = "--path" ]; then recipe "$2" >/dev/null; echo "$TESTBED/$2"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "testbed.sh: building the test bed needs root (debootstrap, chroot)" >&2; exit 2; }
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(runtime host host-nvidia)
for n in "${names[@]}"; do
  case "$n" in
    probes) install_probes ;;
    runtime) build runtime; install_probes ;;
    *) build "$n" ;;
  esac
done
