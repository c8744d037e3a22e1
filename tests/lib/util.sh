# shellcheck shell=sh disable=SC2034
# tests/lib/util.sh - small helpers for the shell tests, the benchmarks and
# the commands they run (sourced, never run; POSIX sh). Sourced by
# tests/lib/mount.sh, tests/tools/lib.sh, tests/fsx/lib.sh,
# tests/fsx/fsx-remount.sh and bench/writeback.sh.
#
#   at_exit CMD            run CMD (eval'd) when the shell exits, the last
#                          one given first; INT, TERM and HUP exit 1 through it
#   make_tmpdir VAR PARENT PREFIX   a new directory PARENT/PREFIX.XXXXXX,
#                          named in $VAR and removed (rm -rf) at exit
#   run CMD...             sets $out (stdout and stderr) and $rc
#   file_sum FILE          a checksum of the whole file ("CRC SIZE")
#   flip_byte FILE OFFSET  invert every bit of one byte in place
#   put_bytes FILE OFFSET FORMAT   write what printf FORMAT prints ('\002')
#                          over the bytes at OFFSET, in place
#   pid_alive PID          the process exists and is not a zombie
#   wait_pid_exit PID SECONDS   0 once PID has exited, 1 after SECONDS
#   is_mounted DIR, not_mounted DIR   from /proc/mounts
#   ctl_stat MOUNTPOINT NAME   one figure of `$CTL MOUNTPOINT stats` ($CTL:
#                          foliofs-ctl): a counter "name N" or a meminfo line
#                          "Name: N kB"
#
# Invariant: the exit actions run once, in reverse order of registration,
# so what was made last (a mount) is undone before what holds it (its
# directory).

_at_exit_cmds=""

_at_exit_run() {
	_at_exit_todo=$_at_exit_cmds
	_at_exit_cmds=""
	eval "$_at_exit_todo"
}

at_exit() {
	if [ -z "$_at_exit_cmds" ]; then
		trap _at_exit_run EXIT
		trap 'exit 1' INT TERM HUP
	fi
	_at_exit_cmds="$1
$_at_exit_cmds"
}

make_tmpdir() {
	_mt_dir=$(mktemp -d "$2/$3.XXXXXX") || {
		echo "Bail out! cannot make a temporary directory in $2"
		exit 1
	}
	at_exit "rm -rf '$_mt_dir'"
	eval "$1=\$_mt_dir"
}

run() {
	out=$("$@" 2>&1)
	rc=$?
}

file_sum() {
	cksum <"$1" | cut -d' ' -f1,2
}

flip_byte() {
	_fb_old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	put_bytes "$1" "$2" "$(printf '\\%03o' $((_fb_old ^ 255)))"
}

put_bytes() {
	# shellcheck disable=SC2059 # the format is the bytes
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

pid_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_pa_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$_pa_st" ] && [ "$_pa_st" != Z ]
}

wait_pid_exit() {
	_wp_i=0
	_wp_lim=$(($2 * 10))
	while pid_alive "$1"; do
		_wp_i=$((_wp_i + 1))
		[ "$_wp_i" -ge "$_wp_lim" ] && return 1
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

ctl_stat() {
	"$CTL" "$1" stats | awk -v k="$2" '$1 == k || $1 == k ":" { print $2; exit }'
}
