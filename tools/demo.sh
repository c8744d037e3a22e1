#!/usr/bin/env bash
# tools/demo.sh - foliofs end to end, from a fresh Debian 12 machine (as root):
# install the packages and build (tools/setup.sh build), make an image, mount
# it, run a short fio job with verification and a directory walk, print
# foliofs-ctl stats, unmount, and check the image with fsck.foliofs.
#
#   bash tools/demo.sh                        install, build in the tree, run
#   FOLIOFS_BUILDDIR=DIR bash tools/demo.sh   use the programs already built in DIR
#
# Everything lives in a temporary directory; a trap unmounts (fusermount3 -u)
# and removes it on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

if [ -n "${FOLIOFS_BUILDDIR:-}" ]; then
	build=$(cd "$FOLIOFS_BUILDDIR" && pwd)
else
	bash tools/setup.sh build
	build=$top
fi
FOLIOFS=$build/daemon/foliofs
CTL=$build/tools/foliofs-ctl
MKFS=$build/tools/mkfs.foliofs
FSCK=$build/tools/fsck.foliofs

work=$(mktemp -d "${TMPDIR:-/tmp}/foliofs-demo.XXXXXX")
img=$work/foliofs.img
mnt=$work/mnt
pid=

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" || true
	fi
	wait_daemon
	rm -rf "$work"
}

# The daemon writes everything back after the unmount: wait for it to exit.
wait_daemon() {
	local i=0

	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
trap cleanup EXIT

step() {
	printf '\n==> %s\n' "$*"
}

step "make a 1 GiB image"
mkdir "$mnt"
"$MKFS" -s 1G -L demo "$img"

step "mount it: foliofs $img $mnt -o cache_size=128M"
"$FOLIOFS" "$img" "$mnt" -o cache_size=128M
pid=$("$CTL" "$mnt" get pid)
grep " $mnt " /proc/mounts

step "fio: sequential write with crc32c verify, then 5 s of random 4 KiB reads and writes"
(cd "$work" && fio --directory="$mnt" --size=64M --numjobs=2 --group_reporting \
	--verify_state_save=0 \
	--name=seqwrite --rw=write --bs=1M --verify=crc32c --do_verify=1 \
	--name=randrw --stonewall --rw=randrw --bs=4k --runtime=5 --time_based \
	--verify=crc32c --do_verify=1) |
	grep -E '^(seqwrite|randrw)|READ:|WRITE:|err='

step "directory walk: copy /usr/include in, walk it, compare"
cp -a /usr/include "$mnt/include"
printf '%s files, %s directories, %s\n' "$(find "$mnt/include" -type f | wc -l)" \
	"$(find "$mnt/include" -type d | wc -l)" "$(du -sh "$mnt/include" | cut -f1)"
ls -lR "$mnt/include" >/dev/null
diff -r --no-dereference /usr/include "$mnt/include" && echo "the copy matches /usr/include"

step "foliofs-ctl $mnt stats"
"$CTL" "$mnt" stats

step "unmount and check"
fusermount3 -u "$mnt"
wait_daemon
"$FSCK" "$img"
