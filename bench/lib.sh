# shellcheck shell=bash
# bench/lib.sh - what the benchmark scripts (bench/compare.sh,
# bench/metadata.sh) share beyond tests/lib/mount.sh, whose daemons,
# mounts and exit path they use; sourced, never run.
#
# Interface:
#   $B_BUILD $B_SRC       build and source directories
#   $FOLIOFS $MKFS $CTL   the foliofs programs of this build
#   $BT                   the run's temporary directory (images, logs)
#   bt_setup NAME         checks (root, /dev/fuse, fio, fuse2fs), makes $BT,
#                         installs the exit path; exits 0 with a note when a
#                         precondition is missing (a benchmark is not a test)
#   bt_mount_foliofs IMG MP OPTS    mkfs.foliofs + daemon in the foreground
#   bt_mount_fuse2fs IMG MP [ARGS]  mkfs.ext4 + fuse2fs in the foreground
#   bt_mount_ext4 IMG MP            loop device + mkfs.ext4 + mount (1: none)
#   bt_mount_passthrough SRC MP     libfuse's passthrough_ll, cache=never
#   bt_umount MP          unmount, then wait for the daemon (or losetup -d)
#   mt_pid MP             the daemon's pid for MP (tests/lib/mount.sh)
#   mt_diag TEXT          a note on stderr
#   bt_drop MP KIND       drop every cache: the kernel's, and foliofs's
#   bt_load               "load L1 L5 L15" from /proc/loadavg
#   bt_hwm PID, bt_hwm_reset PID    the daemon's peak RSS in KiB; a new peak
#
# Invariants: every mount, daemon and loop device made here is recorded when
# made; the exit path unmounts what is still mounted (fusermount3 -u or
# umount), waits for those daemons, signals only their recorded pids if they
# do not exit, detaches recorded loop devices and removes $BT.

B_BUILD=${BENCH_BUILDDIR:-$PWD}
# shellcheck disable=SC2034 # used by the scripts that source this file
B_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LC_ALL=C
# Notes go to stderr, stdout is the results; a benchmark's daemons and
# mounts get more time than a test's.
MT_DIAG_FD=2 MT_MOUNT_WAIT=30 MT_UMOUNT_TIMEOUT=300 MT_EXIT_WAIT=60
top_builddir=$B_BUILD top_srcdir=$B_SRC
# shellcheck source=tests/lib/mount.sh
. "$B_SRC/tests/lib/mount.sh"

bt_kmounts="" # kernel mounts made here
bt_loops=""   # loop devices made here

bt_skip() {
	echo "$1: skipped: $2"
	exit 0
}

# bt_cleanup: the kernel mounts and loop devices (the FUSE mounts are
# tests/lib/mount.sh's).
bt_cleanup() {
	local mp w
	for mp in $bt_kmounts; do
		is_mounted "$mp" && { umount "$mp" 2>/dev/null || umount -l "$mp"; }
	done
	for w in $bt_loops; do
		losetup -d "$w" 2>/dev/null
	done
}

bt_setup() {
	local name=$1 c f
	[ "$(id -u)" = 0 ] || bt_skip "$name" "needs root (mounts, drop_caches)"
	[ -c /dev/fuse ] || bt_skip "$name" "no /dev/fuse"
	for c in fio fuse2fs mkfs.ext4 fusermount3 python3; do
		command -v "$c" >/dev/null || bt_skip "$name" "$c is not installed"
	done
	for f in "$FOLIOFS" "$MKFS" "$CTL"; do
		[ -x "$f" ] || bt_skip "$name" "$f is not built (run from the build directory)"
	done
	mt_tmpdir "${BENCH_TMPDIR:-/var/tmp}" foliofs-bench
	BT=$T
	at_exit bt_cleanup
}

bt_mount_foliofs() {
	local img=$1 mp=$2 opts=$3
	rm -f "$img"
	"$MKFS" -q -f -b 4096 -s "${BENCH_IMAGE_SIZE:-4G}" "$img" >"$BT/mkfs.log" 2>&1 || {
		mt_show "$BT/mkfs.log"
		return 1
	}
	mt_start "$mp" "$BT/$(basename "$mp").log" "$FOLIOFS" "$img" "$mp" -f -o "$opts"
}

bt_mkfs_ext4() {
	rm -f "$1"
	truncate -s "${BENCH_IMAGE_SIZE:-4G}" "$1" &&
		mkfs.ext4 -q -F -b 4096 "$1" >"$BT/mkfs.log" 2>&1
}

bt_mount_fuse2fs() {
	local img=$1 mp=$2
	shift 2
	bt_mkfs_ext4 "$img" || return 1
	mt_start "$mp" "$BT/$(basename "$mp").log" fuse2fs "$img" "$mp" -f "$@"
}

bt_mount_ext4() {
	local img=$1 mp=$2 loop
	truncate -s "${BENCH_IMAGE_SIZE:-4G}" "$img" || return 1
	loop=$(losetup -f --show "$img" 2>"$BT/losetup.log") || {
		mt_diag "losetup failed: $(cat "$BT/losetup.log")"
		return 1
	}
	bt_loops="$bt_loops $loop"
	mkfs.ext4 -q -F -b 4096 "$loop" >"$BT/mkfs.log" 2>&1 || return 1
	mkdir -p "$mp"
	mount -t ext4 "$loop" "$mp" || return 1
	bt_kmounts="$bt_kmounts $mp"
	mt_set loop "$mp" "$loop"
}

# bt_passthrough_bin: libfuse's passthrough_ll example, built once into the
# build directory from the copy libfuse3-dev ships.
bt_passthrough_bin() {
	local src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
	local bin=$B_BUILD/bench/passthrough_ll
	[ -x "$bin" ] && [ "$bin" -nt "$src" ] && { echo "$bin"; return 0; }
	[ -r "$src" ] || { mt_diag "no $src"; return 1; }
	mkdir -p "$B_BUILD/bench"
	# shellcheck disable=SC2046
	${CC:-cc} -O2 -Wall -o "$bin" "$src" $(pkg-config --cflags --libs fuse3) \
		>"$BT/cc.log" 2>&1 || { mt_show "$BT/cc.log"; return 1; }
	echo "$bin"
}

bt_mount_passthrough() {
	local src=$1 mp=$2 bin
	bin=$(bt_passthrough_bin) || return 1
	mkdir -p "$src"
	mt_start "$mp" "$BT/$(basename "$mp").log" "$bin" -f -o "cache=never,source=$src" "$mp"
}

# bt_umount MP: unmount and wait until its daemon has exited (it writes its
# image back after fusermount3 returns), or umount and detach its loop
# device. 1 when MP is still mounted.
bt_umount() {
	local mp=$1 loop
	if [ -n "$(mt_pid "$mp")" ]; then
		mt_umount "$mp"
	else
		mt_umount "$mp" umount
	fi
	loop=$(mt_get loop "$mp")
	if [ -n "$loop" ]; then
		losetup -d "$loop" 2>/dev/null
		mt_set loop "$mp" ""
		# shellcheck disable=SC2086 # a word list
		bt_loops=$(printf '%s\n' $bt_loops | grep -vxF -- "$loop" | tr '\n' ' ')
	fi
	not_mounted "$mp"
}

# bt_drop MP KIND: write everything back, then drop the kernel's caches and,
# for foliofs (KIND foliofs-*), every clean page of the daemon's cache.
bt_drop() {
	sync
	case $2 in
	foliofs*)
		"$CTL" "$1" sync >/dev/null
		"$CTL" "$1" drop-caches >/dev/null
		;;
	esac
	echo 3 >/proc/sys/vm/drop_caches
}

bt_load() {
	awk '{ print "load " $1 " " $2 " " $3 }' /proc/loadavg
}

bt_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

bt_hwm_reset() {
	echo 5 >"/proc/$1/clear_refs" 2>/dev/null
}
