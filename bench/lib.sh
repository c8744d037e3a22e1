# shellcheck shell=bash
# bench/lib.sh - mounting and cleaning up for the benchmark scripts
# (bench/compare.sh, bench/metadata.sh); sourced, never run.
#
# Interface:
#   $B_BUILD $B_SRC       build and source directories
#   $FOLIOFS $MKFS $CTL   the foliofs binaries of this build
#   $BT                   the run's temporary directory (images, logs)
#   bt_setup NAME         checks (root, /dev/fuse, fio, fuse2fs), makes $BT,
#                         installs the EXIT trap; exits 0 with a note when a
#                         precondition is missing (a benchmark is not a test)
#   bt_mount_foliofs IMG MP OPTS    mkfs.foliofs + daemon in the foreground
#   bt_mount_fuse2fs IMG MP [ARGS]  mkfs.ext4 + fuse2fs in the foreground
#   bt_mount_ext4 IMG MP            loop device + mkfs.ext4 + mount (1: none)
#   bt_mount_passthrough SRC MP     libfuse's passthrough_ll, cache=never
#   bt_umount MP          unmount, then wait for the daemon (or losetup -d)
#   bt_pid MP             the daemon's pid for MP
#   bt_drop MP KIND       drop every cache: the kernel's, and foliofs's
#   bt_load               "load L1 L5 L15" from /proc/loadavg
#
# Invariants: every mount, daemon and loop device made here is recorded when
# made; the EXIT trap unmounts what is still mounted (fusermount3 -u or
# umount), waits for those daemons, signals only their recorded pids if
# they do not exit, detaches recorded loop devices and removes $BT.

B_BUILD=${BENCH_BUILDDIR:-$PWD}
# shellcheck disable=SC2034 # used by the scripts that source this file
B_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FOLIOFS=$B_BUILD/daemon/foliofs
MKFS=$B_BUILD/tools/mkfs.foliofs
CTL=$B_BUILD/tools/foliofs-ctl
export LC_ALL=C

bt_mounts=""  # "mp" words: FUSE mounts made here
bt_kmounts="" # kernel mounts made here
bt_loops=""   # loop devices made here
bt_pids=""    # "pid:mp" daemons started here

bt_note() {
	echo "# $*" >&2
}

bt_skip() {
	echo "$1: skipped: $2"
	exit 0
}

bt_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# bt_wait_exit PID SECONDS
bt_wait_exit() {
	local i=0 lim=$(($2 * 10))
	while bt_alive "$1"; do
		i=$((i + 1))
		[ "$i" -ge "$lim" ] && return 1
		sleep 0.1
	done
	wait "$1" 2>/dev/null
	return 0
}

bt_is_mounted() {
	awk -v mp="$1" '$2 == mp { f = 1 } END { exit !f }' /proc/mounts
}

bt_pid() {
	local w
	for w in $bt_pids; do
		[ "${w#*:}" = "$1" ] && echo "${w%%:*}"
	done
}

bt_forget() {
	local w keep=""
	for w in $bt_pids; do
		[ "${w#*:}" = "$1" ] || keep="$keep $w"
	done
	bt_pids=$keep
	keep=""
	for w in $bt_mounts; do
		[ "$w" = "$1" ] || keep="$keep $w"
	done
	bt_mounts=$keep
}

bt_cleanup() {
	local mp pid w
	cd / || true
	for mp in $bt_mounts; do
		bt_is_mounted "$mp" && { fusermount3 -u "$mp" 2>/dev/null ||
			{ sleep 1; fusermount3 -u -z "$mp" 2>/dev/null; }; }
	done
	for mp in $bt_kmounts; do
		bt_is_mounted "$mp" && { umount "$mp" 2>/dev/null || umount -l "$mp"; }
	done
	for w in $bt_pids; do
		pid=${w%%:*}
		bt_wait_exit "$pid" 60 && continue
		bt_note "daemon $pid did not exit after unmount; terminating it"
		kill -TERM "$pid" 2>/dev/null
		bt_wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null
	done
	for w in $bt_loops; do
		losetup -d "$w" 2>/dev/null
	done
	[ -n "${BT:-}" ] && rm -rf "$BT"
	[ -n "${BT_SHM:-}" ] && rm -rf "$BT_SHM"
}

bt_setup() {
	local name=$1
	[ "$(id -u)" = 0 ] || bt_skip "$name" "needs root (mounts, drop_caches)"
	[ -c /dev/fuse ] || bt_skip "$name" "no /dev/fuse"
	for c in fio fuse2fs mkfs.ext4 fusermount3 python3; do
		command -v "$c" >/dev/null || bt_skip "$name" "$c is not installed"
	done
	for f in "$FOLIOFS" "$MKFS" "$CTL"; do
		[ -x "$f" ] || bt_skip "$name" "$f is not built (run from the build directory)"
	done
	BT=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/foliofs-bench.XXXXXX") || exit 1
	trap bt_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# bt_wait_mount MP PID LOG: 0 once MP is mounted; 1 if the daemon exits or
# 30 s pass.
bt_wait_mount() {
	local mp=$1 pid=$2 log=$3 i
	for ((i = 0; i < 300; i++)); do
		bt_is_mounted "$mp" && return 0
		bt_alive "$pid" || break
		sleep 0.1
	done
	bt_note "mounting $mp failed:"
	sed 's/^/#   /' "$log" >&2
	return 1
}

# bt_start_daemon MP LOG CMD...: start a FUSE daemon in the foreground, as
# a background job, and wait for its mount.
bt_start_daemon() {
	local mp=$1 log=$2 pid
	shift 2
	mkdir -p "$mp"
	"$@" </dev/null >"$log" 2>&1 &
	pid=$!
	bt_pids="$bt_pids $pid:$mp"
	bt_mounts="$bt_mounts $mp"
	bt_wait_mount "$mp" "$pid" "$log"
}

bt_mount_foliofs() {
	local img=$1 mp=$2 opts=$3
	rm -f "$img"
	"$MKFS" -q -f -b 4096 -s "${BENCH_IMAGE_SIZE:-4G}" "$img" >"$BT/mkfs.log" 2>&1 || {
		sed 's/^/#   /' "$BT/mkfs.log" >&2
		return 1
	}
	bt_start_daemon "$mp" "$BT/$(basename "$mp").log" "$FOLIOFS" "$img" "$mp" -f -o "$opts"
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
	bt_start_daemon "$mp" "$BT/$(basename "$mp").log" fuse2fs "$img" "$mp" -f "$@"
}

bt_mount_ext4() {
	local img=$1 mp=$2 loop
	truncate -s "${BENCH_IMAGE_SIZE:-4G}" "$img" || return 1
	loop=$(losetup -f --show "$img" 2>"$BT/losetup.log") || {
		bt_note "losetup failed: $(cat "$BT/losetup.log")"
		return 1
	}
	bt_loops="$bt_loops $loop"
	mkfs.ext4 -q -F -b 4096 "$loop" >"$BT/mkfs.log" 2>&1 || return 1
	mkdir -p "$mp"
	mount -t ext4 "$loop" "$mp" || return 1
	bt_kmounts="$bt_kmounts $mp"
	eval "bt_loop_$(bt_key "$mp")=$loop"
}

bt_key() {
	printf '%s' "$1" | tr -c 'A-Za-z0-9' '_'
}

# bt_passthrough_bin: libfuse's passthrough_ll example, built once into the
# build directory from the copy libfuse3-dev ships.
bt_passthrough_bin() {
	local src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
	local bin=$B_BUILD/bench/passthrough_ll
	[ -x "$bin" ] && [ "$bin" -nt "$src" ] && { echo "$bin"; return 0; }
	[ -r "$src" ] || { bt_note "no $src"; return 1; }
	mkdir -p "$B_BUILD/bench"
	# shellcheck disable=SC2046
	${CC:-cc} -O2 -Wall -o "$bin" "$src" $(pkg-config --cflags --libs fuse3) \
		>"$BT/cc.log" 2>&1 || { sed 's/^/#   /' "$BT/cc.log" >&2; return 1; }
	echo "$bin"
}

bt_mount_passthrough() {
	local src=$1 mp=$2 bin
	bin=$(bt_passthrough_bin) || return 1
	mkdir -p "$src"
	bt_start_daemon "$mp" "$BT/$(basename "$mp").log" "$bin" -f -o "cache=never,source=$src" "$mp"
}

# bt_umount MP: unmount and wait until its daemon has exited (it writes its
# image back after fusermount3 returns), or detach its loop device.
bt_umount() {
	local mp=$1 pid loop i
	pid=$(bt_pid "$mp")
	for ((i = 0; i < 50; i++)); do
		bt_is_mounted "$mp" || break
		if [ -n "$pid" ]; then
			fusermount3 -u "$mp" 2>/dev/null && break
		else
			umount "$mp" 2>/dev/null && break
		fi
		sleep 0.2
	done
	if [ -n "$pid" ]; then
		bt_wait_exit "$pid" 300 || bt_note "daemon $pid still running after unmount"
		bt_forget "$mp"
	fi
	eval "loop=\${bt_loop_$(bt_key "$mp"):-}"
	if [ -n "$loop" ]; then
		losetup -d "$loop" 2>/dev/null
		eval "bt_loop_$(bt_key "$mp")="
		# shellcheck disable=SC2086 # a word list
		bt_loops=$(printf '%s\n' $bt_loops | grep -vxF -- "$loop" | tr '\n' ' ')
	fi
	! bt_is_mounted "$mp"
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

# bt_hwm PID: the daemon's peak resident set (VmHWM) in KiB; bt_hwm_reset
# starts a new peak (clear_refs 5).
bt_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

bt_hwm_reset() {
	echo 5 >"/proc/$1/clear_refs" 2>/dev/null
}
