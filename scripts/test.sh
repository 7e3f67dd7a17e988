#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs what the tests need from Debian (as root, only what is missing);
#   2. builds or reuses the real test bed (scripts/testbed.sh; cached under $GRAFT_TESTBED);
#   3. cargo fmt --check, cargo clippy -D warnings, cargo test (unit, fixtures, bad input, and the
#      loader oracle + goblin differential over the test bed, which must be present).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in debootstrap:debootstrap bwrap:bubblewrap lddtree:pax-utils gcc:gcc ldconfig:libc-bin Xvfb:xvfb; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
fi

if [ "$(id -u)" = 0 ]; then
  scripts/testbed.sh >/dev/null
fi
export GRAFT_REQUIRE_TESTBED=1

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test -- --nocapture
