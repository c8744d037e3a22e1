# shellcheck shell=bash disable=SC2034
# tests/lib/mount.sh - mounting foliofs (and other FUSE daemons) from the
# shell, for the mount scenarios (tests/mount/lib.sh), the consistency suite
# on mounts (tests/fsx/fsx-mount-lib.sh, through tests/mount/lib.sh), the
# daemon's own test (tests/mount/daemon-basic.sh) and the benchmarks
# (bench/lib.sh). Sourced, never run; bash. Sources tests/lib/tap.sh and
# tests/lib/util.sh.
#
# Interface:
#   $builddir $srcdir     the build and source trees ($top_builddir,
#                         $top_srcdir, else two levels above the script)
#   $FOLIOFS $MKFS $FSCK $CTL   the programs of this build
#   mt_tmpdir PARENT PREFIX  make $T (mode 0755, so other users can reach
#                         mountpoints inside it) and install the exit path
#   mt_mkfs IMAGE BS SIZE [MKFS ARGS...]   a fresh image, or bail out
#   mt_mount IMAGE MOUNTPOINT [DAEMON ARGS...]  foliofs in the foreground as
#                         a background job, waiting for /proc/mounts; its log
#                         is $MT_LOG; 1 (log shown) if it exits or the wait
#                         ends first
#   mt_start MOUNTPOINT LOG CMD...  the same for any FUSE daemon command
#   mt_adopt MOUNTPOINT [PID]  record a daemon something else started
#                         (mount(8), mount.fuse3, a daemonizing foliofs, the
#                         fsx remount command): PID, or the foliofs process
#                         whose arguments include MOUNTPOINT
#   mt_pid MOUNTPOINT     the pid of the daemon recorded for MOUNTPOINT
#   mt_forget_pid PID     PID has exited and was waited for: drop it
#   mt_umount MOUNTPOINT [CMD...]  fusermount3 -u (or CMD; retried while
#                         busy), then wait for that daemon to EXIT (it writes
#                         the image back after fusermount3 returns); its exit
#                         status in $MT_STATUS
#   mt_kill MOUNTPOINT    SIGKILL the daemon, wait for it, drop the mount
#   mt_mount_ok IMAGE MOUNTPOINT DESC [ARGS...], mt_umount_ok MOUNTPOINT
#   DESC [CMD...], mt_fsck_ok IMAGE DESC, mt_cycle IMAGE MOUNTPOINT DESC
#   [ARGS...]: the same as TAP lines (non-zero when they fail)
#   mt_try_mount IMAGE MOUNTPOINT [ARGS...]  for input the daemon must
#                         refuse: $rc (exit status, or "mounted") and $out
#   mt_helpers            pids of other processes started here (killed at exit)
#   mt_user_fuse UID      let UID mount with fusermount3 until the shell
#                         exits: takes /run/lock/foliofs-user-fuse.lock (one
#                         such test at a time), gives UID an ACL entry on
#                         /dev/fuse when it cannot open it, makes
#                         /run/user/UID when missing; the exit path puts
#                         /dev/fuse's ACL back exactly and removes what it made
#   is_mounted, not_mounted, file_sum, ctl_stat and the rest of util.sh
# Settings (set before use; the defaults are the tests'):
#   MT_MOUNT_WAIT (20 s), MT_UMOUNT_TIMEOUT (120 s), MT_EXIT_WAIT (30 s: at
#   exit, for a daemon to leave after its unmount), MT_DIAG_FD (1: where
#   diagnostics go; the benchmarks use 2)
#
# Invariants: only mounts made here are unmounted and only processes started
# here are signalled (recorded when started or, when adopted, checked to be
# a foliofs process before a signal). On every exit path the exit action
# unmounts what is still mounted, waits for (and only then kills) its
# daemons, and removes $T.

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
FOLIOFS=$builddir/daemon/foliofs
MKFS=$builddir/tools/mkfs.foliofs
FSCK=$builddir/tools/fsck.foliofs
CTL=$builddir/tools/foliofs-ctl

# shellcheck source=tests/lib/tap.sh
. "$srcdir/tests/lib/tap.sh"
# shellcheck source=tests/lib/util.sh
. "$srcdir/tests/lib/util.sh"

mt_pids=""    # daemons recorded here: "pid:mountpoint" words
mt_helpers="" # other processes started here
MT_LOG=""
MT_STATUS=""
MT_MOUNT_WAIT=${MT_MOUNT_WAIT:-20}
MT_UMOUNT_TIMEOUT=${MT_UMOUNT_TIMEOUT:-120}
MT_EXIT_WAIT=${MT_EXIT_WAIT:-30}
MT_DIAG_FD=${MT_DIAG_FD:-1}

mt_diag() {
	diag "$@" >&"$MT_DIAG_FD"
}

mt_show() {
	show_file "$@" >&"$MT_DIAG_FD"
}

# mt_key PATH: a shell variable name part for a mountpoint.
mt_key() {
	printf '%s' "$1" | tr -c 'A-Za-z0-9' '_'
}

# mt_get FIELD MOUNTPOINT / mt_set FIELD MOUNTPOINT VALUE: what is recorded
# for a mountpoint: pid, log, adopted.
mt_get() {
	eval "printf '%s' \"\${mt_${1}_$(mt_key "$2"):-}\""
}

mt_set() {
	eval "mt_${1}_$(mt_key "$2")=\$3"
}

mt_pid() {
	mt_get pid "$1"
	echo
}

mt_forget_pid() {
	local w keep=""
	for w in $mt_pids; do
		[ "${w%%:*}" = "$1" ] || keep="$keep $w"
	done
	mt_pids=$keep
	keep=""
	for w in $mt_helpers; do
		[ "$w" = "$1" ] || keep="$keep $w"
	done
	mt_helpers=$keep
}

# mt_forget_mp MOUNTPOINT: nothing is recorded for it any more.
mt_forget_mp() {
	local pid
	pid=$(mt_get pid "$1")
	[ -n "$pid" ] && mt_forget_pid "$pid"
	mt_set pid "$1" ""
	mt_set log "$1" ""
	mt_set adopted "$1" ""
}

# is_daemon PID: PID runs a foliofs binary.
is_daemon() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) && [ "${exe##*/}" = foliofs ]
}

# mt_may_signal PID: PID is a child of this shell, or a foliofs process.
mt_may_signal() {
	local w
	for w in $mt_pids; do
		[ "${w%%:*}" = "$1" ] || continue
		[ -z "$(mt_get adopted "${w#*:}")" ] && return 0
	done
	is_daemon "$1"
}

# --- the exit path ----------------------------------------------------------

mt_cleanup() {
	local w pid mp
	cd / || true
	for pid in $mt_helpers; do
		pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	for w in $mt_pids; do
		mp=${w#*:}
		if is_mounted "$mp"; then
			fusermount3 -u "$mp" 2>/dev/null || {
				sleep 1
				fusermount3 -u "$mp" 2>/dev/null || fusermount3 -u -z "$mp" 2>/dev/null
			}
		fi
	done
	for w in $mt_pids; do
		pid=${w%%:*}
		wait_pid_exit "$pid" "$MT_EXIT_WAIT" && continue
		mt_may_signal "$pid" || continue
		mt_diag "daemon $pid did not exit after unmount; terminating it"
		kill -TERM "$pid" 2>/dev/null
		wait_pid_exit "$pid" 10 || { mt_may_signal "$pid" && kill -KILL "$pid" 2>/dev/null; }
	done
}

mt_tmpdir() {
	make_tmpdir T "$1" "$2"
	chmod 0755 "$T"
	at_exit mt_cleanup
}

# --- images and mounts ------------------------------------------------------

mt_mkfs() {
	local img=$1 bs=$2 size=$3
	shift 3
	"$MKFS" -q -f -b "$bs" -s "$size" "$@" "$img" >"$T/mkfs.out" 2>&1 || {
		show_file "$T/mkfs.out"
		bail "mkfs.foliofs -b $bs -s $size $* $img failed"
	}
}

mt_start() {
	local mp=$1 log=$2 pid i st what
	shift 2
	what="${1##*/} ${*:2}"
	mkdir -p "$mp"
	is_mounted "$mp" && { mt_diag "$mp is already mounted"; return 1; }
	"$@" </dev/null >"$log" 2>&1 &
	pid=$!
	mt_pids="$mt_pids $pid:$mp"
	mt_set pid "$mp" "$pid"
	mt_set log "$mp" "$log"
	for ((i = 0; i < MT_MOUNT_WAIT * 10; i++)); do
		is_mounted "$mp" && return 0
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null
			st=$?
			mt_diag "$what exited with status $st before mounting:"
			mt_forget_pid "$pid"
			mt_show "$log"
			return 1
		fi
		sleep 0.1
	done
	mt_diag "$what: not mounted after $MT_MOUNT_WAIT s"
	mt_show "$log"
	return 1
}

mt_lognr=0
mt_mount() {
	local img=$1 mp=$2
	shift 2
	mt_lognr=$((mt_lognr + 1))
	MT_LOG=$T/daemon.$mt_lognr.log
	mt_start "$mp" "$MT_LOG" "$FOLIOFS" "$img" "$mp" -f "$@"
}

mt_adopt() {
	local mp=$1 pid=${2:-} p exe
	if [ -z "$pid" ]; then
		for p in /proc/[0-9]*; do
			exe=$(readlink "$p/exe" 2>/dev/null) || continue
			[ "${exe##*/}" = foliofs ] || continue
			tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$mp" || continue
			pid=${p#/proc/}
		done
	fi
	[ -n "$pid" ] || return 1
	mt_pids="$mt_pids $pid:$mp"
	mt_set pid "$mp" "$pid"
	mt_set adopted "$mp" 1
}

# mt_umount returns 0 when unmounted, the daemon exited 0 and its log holds
# no sanitizer report ($MT_STATUS 0 for an adopted daemon, whose status
# cannot be known; "timeout" if it did not exit).
mt_umount() {
	local mp=$1 pid adopted log i
	shift
	local -a cmd=("$@")
	[ ${#cmd[@]} -gt 0 ] || cmd=(fusermount3 -u)
	pid=$(mt_get pid "$mp")
	adopted=$(mt_get adopted "$mp")
	log=$(mt_get log "$mp")
	MT_STATUS=""
	for ((i = 0; i < 50; i++)); do
		is_mounted "$mp" || break
		"${cmd[@]}" "$mp" 2>"$T/umount.err" && break
		sleep 0.2
	done
	if is_mounted "$mp"; then
		mt_diag "${cmd[*]} $mp failed:"
		mt_show "$T/umount.err"
		return 1
	fi
	[ -n "$pid" ] || { MT_STATUS=0; return 0; }
	if ! wait_pid_exit "$pid" "$MT_UMOUNT_TIMEOUT"; then
		MT_STATUS=timeout
		mt_diag "daemon $pid still running $MT_UMOUNT_TIMEOUT s after unmount"
		return 1
	fi
	if [ -n "$adopted" ]; then
		MT_STATUS=0
	else
		wait "$pid" 2>/dev/null
		MT_STATUS=$?
	fi
	mt_forget_mp "$mp"
	[ "$MT_STATUS" = 0 ] || { mt_diag "daemon exited with status $MT_STATUS:"; mt_show "$log"; }
	# A sanitizer build may report without changing the exit status.
	if [ -n "$log" ] && grep -qE "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$log"; then
		mt_diag "the daemon's log has sanitizer reports:"
		grep -E -A3 "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$log" | head -n 20 |
			sed 's/^/#   /' >&"$MT_DIAG_FD"
		return 1
	fi
	[ "$MT_STATUS" = 0 ]
}

mt_kill() {
	local pid
	pid=$(mt_get pid "$1")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	mt_forget_mp "$1"
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -u -z "$1"
	not_mounted "$1"
}

mt_mount_ok() {
	local img=$1 mp=$2 desc=$3
	shift 3
	if mt_mount "$img" "$mp" "$@"; then ok 0 "$desc"; else ok 1 "$desc"; return 1; fi
}

mt_umount_ok() {
	local mp=$1 desc=$2
	shift 2
	if mt_umount "$mp" "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

mt_fsck_ok() {
	local r
	"$FSCK" "$1" >"$T/fsck.out" 2>&1
	r=$?
	if [ "$r" = 0 ]; then
		ok 0 "$2"
	else
		ok 1 "$2"
		echo "#   fsck.foliofs exit $r:"
		show_file "$T/fsck.out" 40
	fi
}

# mt_crash_fsck IMAGE DESC: one TAP line: the image a killed daemon left is
# consistent once its journal is replayed. Checks a copy (the image itself is
# left for the daemon to replay): fsck.foliofs -p replays and may only
# correct what a crash leaves (exit 0 or 1), then fsck.foliofs -n finds
# nothing (exit 0). fsck's notes go to the log.
mt_crash_fsck() {
	local copy=$T/crash-fsck.img r1 r2
	cp --sparse=always "$1" "$copy" || { ok 1 "$2"; return; }
	"$FSCK" -p "$copy" >"$T/fsck.out" 2>&1
	r1=$?
	"$FSCK" -n "$copy" >>"$T/fsck.out" 2>&1
	r2=$?
	rm -f "$copy"
	if [ "$r1" -le 1 ] && [ "$r2" = 0 ]; then
		ok 0 "$2"
		grep -iE "note|replay" "$T/fsck.out" | sed 's/^/# fsck: /'
	else
		ok 1 "$2"
		echo "#   fsck.foliofs -p exit $r1, then -n exit $r2:"
		show_file "$T/fsck.out" 40
	fi
}

# mt_cycle: unmount, fsck, mount again (three TAP lines); returns non-zero
# if the mount failed.
mt_cycle() {
	local img=$1 mp=$2 desc=$3
	shift 3
	mt_umount_ok "$mp" "$desc: unmounted, daemon exited 0"
	mt_fsck_ok "$img" "$desc: fsck clean"
	if mt_mount "$img" "$mp" "$@"; then
		ok 0 "$desc: mounted again"
	else
		ok 1 "$desc: mounted again"
		return 1
	fi
}

mt_try_mount() {
	local img=$1 mp=$2 pid i
	shift 2
	mkdir -p "$mp" 2>/dev/null
	"$FOLIOFS" "$img" "$mp" -f "$@" </dev/null >"$T/try.out" 2>&1 &
	pid=$!
	mt_pids="$mt_pids $pid:$mp"
	mt_set pid "$mp" "$pid"
	rc=timeout
	for ((i = 0; i < 200; i++)); do
		if is_mounted "$mp"; then
			rc=mounted
			mt_umount "$mp"
			break
		fi
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null
			rc=$?
			mt_forget_pid "$pid"
			break
		fi
		sleep 0.1
	done
	out=$(cat "$T/try.out")
}

# Let uid $1 open /dev/fuse and have a runtime directory, until exit. The
# lock (fd 8, held until the shell exits, after the exit actions) keeps two
# tests from granting and taking back the same entry under each other.
mt_user_fuse() {
	local uid=$1
	exec 8>/run/lock/foliofs-user-fuse.lock
	flock -w 600 8 || bail "cannot lock /run/lock/foliofs-user-fuse.lock"
	if ! setpriv --reuid="$uid" --regid="$uid" --clear-groups sh -c 'exec 3<>/dev/fuse' \
		2>/dev/null; then
		getfacl -cp /dev/fuse >"$T/dev-fuse.acl" 2>/dev/null ||
			bail "cannot read /dev/fuse's ACL"
		setfacl -m "u:$uid:rw" /dev/fuse || bail "cannot let uid $uid open /dev/fuse"
		at_exit "setfacl --set-file='$T/dev-fuse.acl' /dev/fuse"
	fi
	if [ ! -d "/run/user/$uid" ]; then
		mkdir -p /run/user
		mkdir -m 0700 "/run/user/$uid"
		chown "$uid:$uid" "/run/user/$uid"
		at_exit "rm -rf '/run/user/$uid'"
	fi
}
