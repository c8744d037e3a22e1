#!/usr/bin/env bash
# tools/setup.sh - one command from a fresh Debian 12 machine (as root) to a
# built foliofs: installs the packages, bootstraps, configures and builds.
#   tools/setup.sh test   then installs (make install) and runs the whole
#                         test suite (make check)
#   tools/setup.sh build  stops after the build
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}
export DEBIAN_FRONTEND=noninteractive
PACKAGES="build-essential autoconf automake libtool pkg-config libfuse3-dev liburcu-dev
liblz4-dev fuse3 fio fuse2fs e2fsprogs attr acl util-linux python3 stress-ng xz-utils"
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $PACKAGES >/dev/null
./bootstrap
./configure -q
make -j"$(nproc)"
case "$what" in
build) ;;
test)
	# Installed first so the mount(8) tests (mount -t fuse.foliofs, an fstab
	# line) run against this build: mount(8) only looks in the system PATH.
	make install >/dev/null
	make -j"$(nproc)" check
	;;
*) echo "setup.sh: unknown step '$what' (build or test)" >&2; exit 2 ;;
esac
