#!/bin/sh
# tests/fsx/fsx-remount.sh - the between-operations command that unmounts a
# foliofs mount, checks its image and mounts it again (run by foliofs-fsx
# --exec, with every descriptor of the file closed; never run by make check
# itself).
#
# Interface: environment set by tests/fsx/fsx-mount-lib.sh (fm_mount):
#   FM_FOLIOFS FM_FSCK FM_CTL   the daemon, fsck.foliofs and foliofs-ctl
#   FM_IMG FM_MP FM_OPTS        image, mountpoint, the daemon's -o list
#   FM_STATE                    directory holding "pid" (the daemon serving
#                               FM_MP), daemon.log, and stats.N / fsck.N files
#   FSX_OP                      set by foliofs-fsx: operations done so far
#
# Steps: save `foliofs-ctl stats` (counters start from zero in every daemon);
# fusermount3 -u (retried while busy); wait for the daemon to EXIT, since
# fusermount3 returns before it has written the image back; fsck the image
# (output kept in FM_STATE/fsck.N); start a new daemon in the foreground
# as a background job, log to FM_STATE/daemon.log, record its pid; wait for
# the mount. The old daemon was started by the test or by an earlier run of
# this command, so only its pid is known, not its exit status.
#
# Exit status: 0 remounted; 1 unmount or daemon exit failed; 3 fsck found a
# problem; 4 the new daemon did not mount. foliofs-fsx then stops with
# status 2 and names the command.
set -u

state=$FM_STATE
n=$(ls "$state" | grep -c '^stats\.')
n=$((n + 1))

# shellcheck source=tests/lib/util.sh
. "$(dirname "$0")/../lib/util.sh"

"$FM_CTL" "$FM_MP" stats >"$state/stats.$n" 2>&1
pid=$(cat "$state/pid")
i=0
while is_mounted "$FM_MP"; do
	fusermount3 -u "$FM_MP" 2>"$state/umount.err" && break
	i=$((i + 1))
	[ $i -ge 50 ] && {
		echo "remount after op $FSX_OP: fusermount3 -u failed: $(cat "$state/umount.err")" >&2
		exit 1
	}
	sleep 0.2
done
wait_pid_exit "$pid" 120 || {
	echo "remount after op $FSX_OP: daemon $pid did not exit" >&2
	exit 1
}
if ! "$FM_FSCK" "$FM_IMG" >"$state/fsck.$n" 2>&1; then
	echo "remount after op $FSX_OP: fsck.foliofs found problems ($state/fsck.$n)" >&2
	exit 3
fi
echo "--- remount after op $FSX_OP" >>"$state/daemon.log"
"$FM_FOLIOFS" "$FM_IMG" "$FM_MP" -f -o "$FM_OPTS" </dev/null >>"$state/daemon.log" 2>&1 &
pid=$!
echo "$pid" >"$state/pid"
i=0
until is_mounted "$FM_MP"; do
	if ! pid_alive "$pid"; then
		echo "remount after op $FSX_OP: the daemon exited before mounting" >&2
		exit 4
	fi
	i=$((i + 1))
	[ $i -ge 200 ] && { echo "remount after op $FSX_OP: not mounted after 20 s" >&2; exit 4; }
	sleep 0.1
done
exit 0
