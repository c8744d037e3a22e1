# shellcheck shell=bash disable=SC2034
# tests/mount/lib.sh - shared helpers for the mount scenarios (sourced by
# tests/mount/*.sh, never run). Each scenario makes its images with
# tools/mkfs.foliofs in its own temporary directory, mounts them with
# daemon/foliofs, checks what it must, unmounts, and ends every image with a
# clean fsck.foliofs.
#
# Interface:
#   $T                    the scenario's temporary directory (mode 0755, so
#                         other users can reach the mountpoints inside it)
#   $FOLIOFS $MKFS $FSCK $CTL $PY $MT_SRC $MMAP_HELPER
#   $PYDIR                a readable copy of tests/mount/*.py (run scripts
#                         from here: "$PYDIR/ops.py")
#   ok STATUS DESC | is GOT WANT DESC | like TEXT REGEX DESC | check DESC CMD...
#   skip DESC | diag TEXT | bail TEXT | show_file FILE [LINES] | done_testing
#   sub_tap CMD...        run a program printing unnumbered TAP lines ("ok -
#                         DESC", "not ok - DESC", "skip - DESC") and number
#                         them into this scenario's TAP stream
#   py_tap [-u UID:GID] -- ARGS...  sub_tap python3 with lib.py importable
#   mt_mkfs IMAGE BS SIZE [MKFS ARGS...]
#   mt_mount IMAGE MOUNTPOINT [DAEMON ARGS...]  (foreground daemon in the
#                         background; waits for /proc/mounts; its log is
#                         $MT_LOG)
#   mt_umount MOUNTPOINT [CMD...]  fusermount3 -u (or CMD), then waits for
#                         that daemon to EXIT; $MT_STATUS is its exit status
#   mt_adopt MOUNTPOINT   record a daemon started by mount(8)/mount.fuse3
#   mt_helpers            pids of other processes started here (killed on exit)
#   mt_forget_pid PID     PID has exited and was waited for: drop it
#   mt_umount_ok MOUNTPOINT DESC [CMD...], mt_fsck_ok IMAGE DESC,
#   mt_cycle IMAGE MP DESC [ARGS...]
#   mt_try_mount IMAGE MOUNTPOINT [ARGS...]  for input the daemon must refuse:
#                         sets $rc (exit status, or "mounted") and $out
#   is_mounted / not_mounted MOUNTPOINT, image_sum IMAGE
#   mt_pid MOUNTPOINT     the pid of the daemon serving MOUNTPOINT
#
# Invariants: only mounts this scenario made are unmounted and only
# processes it started are signalled (their pids are recorded when they are
# started or, for mount(8), found by their own mountpoint argument). On
# every exit path the EXIT trap unmounts what is still mounted, waits for
# (and only then kills) its daemons, and removes $T.

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
FOLIOFS=$builddir/daemon/foliofs
MKFS=$builddir/tools/mkfs.foliofs
FSCK=$builddir/tools/fsck.foliofs
CTL=$builddir/tools/foliofs-ctl
MMAP_HELPER=$builddir/tests/mount/mmap_helper
MT_SRC=$srcdir/tests/mount
# The system interpreter: other users must be able to run it too.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C
umask 022

# shellcheck source=tests/lib/tap.sh
. "$srcdir/tests/lib/tap.sh"
mt_pids=""   # daemons started here: "pid:mountpoint" words
MT_LOG=""
MT_STATUS=""
MT_UMOUNT_TIMEOUT=${MT_UMOUNT_TIMEOUT:-120}

# --- preconditions ---------------------------------------------------------

mt_skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

[ "$(id -u)" = 0 ] || mt_skip_all "mount scenarios need root"
[ -c /dev/fuse ] || mt_skip_all "no /dev/fuse"
command -v fusermount3 >/dev/null || mt_skip_all "fusermount3 is not installed"
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
	mt_skip_all "python3 is not installed"
fi
for f in "$FOLIOFS" "$MKFS" "$FSCK"; do
	[ -x "$f" ] || bail "$f is not built"
done

# --- temporary directory and the exit path ----------------------------------

T=$(mktemp -d "${TMPDIR:-/tmp}/foliofs-mount.XXXXXX") || bail "mktemp failed"
chmod 0755 "$T"
# The Python parts run from a copy other users can read (the source tree may
# sit in a private home directory).
PYDIR=$T/py
if ! { mkdir "$PYDIR" && cp "$MT_SRC"/*.py "$PYDIR"/ && chmod -R a+rX "$PYDIR"; }; then
	bail "cannot copy the Python helpers"
fi

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_pid_exit PID SECONDS: 0 once PID has exited (reaped if it is ours).
wait_pid_exit() {
	local i=0 lim=$(($2 * 10))
	while pid_alive "$1"; do
		i=$((i + 1))
		[ "$i" -ge "$lim" ] && return 1
		sleep 0.1
	done
	return 0
}

is_mounted() {
	awk -v mp="$1" '$2 == mp { f = 1 } END { exit !f }' /proc/mounts
}

not_mounted() {
	! is_mounted "$1"
}

# mt_forget_pid PID: PID has exited and been waited for; never signal it
# again (the number may be reused).
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

# is_daemon PID: PID runs a foliofs binary.
is_daemon() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) && [ "${exe##*/}" = foliofs ]
}

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
		wait_pid_exit "$pid" 30 && continue
		is_daemon "$pid" || continue
		echo "# daemon $pid did not exit after unmount; terminating it"
		kill -TERM "$pid" 2>/dev/null
		wait_pid_exit "$pid" 10 || { is_daemon "$pid" && kill -KILL "$pid" 2>/dev/null; }
	done
	rm -rf "$T"
}
trap mt_cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- images and mounts ------------------------------------------------------

# mt_mkfs IMAGE BS SIZE [ARGS...]: a fresh image, or bail out.
mt_mkfs() {
	local img=$1 bs=$2 size=$3
	shift 3
	"$MKFS" -q -f -b "$bs" -s "$size" "$@" "$img" >"$T/mkfs.out" 2>&1 || {
		show_file "$T/mkfs.out"
		bail "mkfs.foliofs -b $bs -s $size $* $img failed"
	}
}

mt_lognr=0
# mt_mount IMAGE MOUNTPOINT [ARGS...]: start the daemon in the foreground
# (as a background job of this shell) and wait until the mount appears.
# Returns 1 (log shown) if the daemon exits or 20 s pass first.
mt_mount() {
	local img=$1 mp=$2 pid i
	shift 2
	mkdir -p "$mp"
	is_mounted "$mp" && { diag "$mp is already mounted"; return 1; }
	mt_lognr=$((mt_lognr + 1))
	MT_LOG=$T/daemon.$mt_lognr.log
	"$FOLIOFS" "$img" "$mp" -f "$@" </dev/null >"$MT_LOG" 2>&1 &
	pid=$!
	mt_pids="$mt_pids $pid:$mp"
	eval "mt_pid_$(mt_key "$mp")=$pid mt_log_$(mt_key "$mp")=\$MT_LOG"
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mp" && return 0
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null
			diag "foliofs $img $mp -f $* exited with status $? before mounting:"
			mt_forget_pid "$pid"
			show_file "$MT_LOG"
			return 1
		fi
		sleep 0.1
	done
	diag "foliofs $img $mp -f $*: not mounted after 20 s"
	show_file "$MT_LOG"
	return 1
}

# mt_key PATH: a shell variable name part for a mountpoint.
mt_key() {
	printf '%s' "$1" | tr -c 'A-Za-z0-9' '_'
}

# mt_adopt MOUNTPOINT: record the daemon serving MOUNTPOINT when something
# else started it (mount(8), mount.fuse3): the foliofs process whose
# arguments include MOUNTPOINT. Returns 1 if there is none.
mt_adopt() {
	local mp=$1 p exe pid=""
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "${exe##*/}" = foliofs ] || continue
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$mp" || continue
		pid=${p#/proc/}
	done
	[ -n "$pid" ] || return 1
	mt_pids="$mt_pids $pid:$mp"
	eval "mt_pid_$(mt_key "$mp")=$pid mt_adopted_$(mt_key "$mp")=1"
}

# mt_pid MOUNTPOINT: the pid of the daemon recorded for MOUNTPOINT.
mt_pid() {
	eval "echo \${mt_pid_$(mt_key "$1"):-}"
}

# mt_umount MOUNTPOINT [UMOUNT COMMAND...]: unmount (fusermount3 -u, or the
# command given; retried while busy), then wait for the daemon to exit:
# fusermount3 -u returns before the daemon has written the image back.
# $MT_STATUS: the daemon's exit status ("timeout" if it did not exit; 0 for
# an adopted daemon, whose status cannot be known). Returns 0 when
# unmounted, the daemon exited 0 and its log holds no sanitizer report.
mt_umount() {
	local mp=$1 pid adopted log i
	shift
	local -a cmd=("$@")
	[ ${#cmd[@]} -gt 0 ] || cmd=(fusermount3 -u)
	eval "pid=\${mt_pid_$(mt_key "$mp"):-} adopted=\${mt_adopted_$(mt_key "$mp"):-}"
	eval "log=\${mt_log_$(mt_key "$mp"):-}"
	MT_STATUS=""
	for ((i = 0; i < 50; i++)); do
		is_mounted "$mp" || break
		"${cmd[@]}" "$mp" 2>"$T/umount.err" && break
		sleep 0.2
	done
	if is_mounted "$mp"; then
		diag "${cmd[*]} $mp failed:"
		show_file "$T/umount.err"
		return 1
	fi
	[ -n "$pid" ] || { MT_STATUS=0; return 0; }
	if ! wait_pid_exit "$pid" "$MT_UMOUNT_TIMEOUT"; then
		MT_STATUS=timeout
		diag "daemon $pid still running $MT_UMOUNT_TIMEOUT s after unmount"
		return 1
	fi
	if [ -n "$adopted" ]; then
		MT_STATUS=0
	else
		wait "$pid" 2>/dev/null
		MT_STATUS=$?
	fi
	mt_forget_pid "$pid"
	eval "mt_pid_$(mt_key "$mp")= mt_adopted_$(mt_key "$mp")= mt_log_$(mt_key "$mp")="
	[ "$MT_STATUS" = 0 ] || { diag "daemon exited with status $MT_STATUS:"; show_file "$log"; }
	# A sanitizer build may report without changing the exit status.
	if [ -n "$log" ] && grep -qE "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$log"; then
		diag "the daemon's log has sanitizer reports:"
		grep -E -A3 "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$log" | head -n 20 | sed 's/^/#   /'
		return 1
	fi
	[ "$MT_STATUS" = 0 ]
}

# mt_umount_ok MOUNTPOINT DESC [UMOUNT COMMAND...]: unmount as one TAP line.
mt_umount_ok() {
	local mp=$1 desc=$2
	shift 2
	if mt_umount "$mp" "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

# mt_fsck_ok IMAGE DESC: fsck.foliofs exits 0, as one TAP line.
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

# mt_cycle IMAGE MOUNTPOINT DESC [MOUNT ARGS...]: unmount, fsck, mount again
# (three TAP lines); returns non-zero if the mount failed.
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

# mt_try_mount IMAGE MOUNTPOINT [ARGS...]: for input the daemon must refuse.
# $rc: its exit status, or "mounted" (then it is unmounted again); $out: its
# output. Gives it 20 s.
mt_try_mount() {
	local img=$1 mp=$2 pid i
	shift 2
	mkdir -p "$mp" 2>/dev/null
	"$FOLIOFS" "$img" "$mp" -f "$@" </dev/null >"$T/try.out" 2>&1 &
	pid=$!
	mt_pids="$mt_pids $pid:$mp"
	eval "mt_pid_$(mt_key "$mp")=$pid"
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

# image_sum IMAGE: a checksum of the whole image (to show nothing was written).
image_sum() {
	cksum <"$1" | cut -d' ' -f1,2
}

# sub_tap CMD...: run a program that prints unnumbered TAP lines ("ok -
# DESC", "not ok - DESC", "skip - DESC", comments) and number them into this
# scenario's stream. A program that exits non-zero without reporting a
# failure counts as one failure.
sub_tap() {
	local line before=$tap_failed st=""
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok 0 "${line#ok - }" ;;
		"not ok - "*) ok 1 "${line#not ok - }" ;;
		"skip - "*) skip "${line#skip - }" ;;
		"#sub-exit "*) st=${line#\#sub-exit } ;;
		*) echo "$line" ;;
		esac
	done < <(cd "$T" && "$@" 2>&1; echo "#sub-exit $?")
	if [ "$st" != 0 ] && [ "$tap_failed" = "$before" ]; then
		ok 1 "$(basename "$1") ${2:-} exited with status $st"
	fi
}

# py_tap [-u UID:GID] -- ARGS...: sub_tap "$PY ARGS..." with lib.py
# importable, as UID:GID with no supplementary groups when -u is given.
py_tap() {
	local user=""
	if [ "$1" = -u ]; then
		user=$2
		shift 2
	fi
	[ "$1" = -- ] && shift
	local -a cmd=(env "PYTHONPATH=$PYDIR" PYTHONDONTWRITEBYTECODE=1 "$PY" -u "$@")
	if [ -n "$user" ]; then
		cmd=(setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups "${cmd[@]}")
	fi
	sub_tap "${cmd[@]}"
}
