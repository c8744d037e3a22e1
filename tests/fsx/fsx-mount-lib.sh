# shellcheck shell=bash
# tests/fsx/fsx-mount-lib.sh - foliofs-fsx on real foliofs mounts: helpers
# for tests/fsx/fsx-foliofs*.sh and fsx-long.sh (sourced, never run).
#
# Builds on tests/mount/lib.sh (tests/lib/mount.sh: its $T, the TAP
# vocabulary, mt_mkfs, mt_mount, mt_adopt, mt_umount, mt_fsck_ok and the exit
# path that unmounts and waits) and adds:
#   $FSX                  the tester
#   fm_dirty_opts         prints ",dirty_bytes=1M,dirty_background_bytes=256K"
#                         when the daemon accepts those options, else nothing
#   fm_mount IMG MP OPTS  mount with -o OPTS and export what the remount
#                         command needs (FM_*); returns 1 if it did not mount
#   fm_fsx DESC ARGS...   run foliofs-fsx ARGS (from $T, never inside the
#                         mount) as one TAP line passing on exit 0; output in
#                         $T/fsx.out and $T/fsx.err, shown on failure; $rc
#   fm_umount DESC        save the last stats, unmount, wait for the daemon
#                         (the one a remount started, too) and fsck: two TAP
#                         lines
#   fm_sum NAME           a counter summed over every daemon of this mount
#                         (foliofs-ctl stats saved at each remount and at
#                         fm_umount)
#   $FM_REMOUNT           --exec command: unmount, wait, fsck, mount again
#   $FM_DROP              --exec command: foliofs-ctl drop-caches
#   $FM_SYNC_DROP         --exec command: foliofs-ctl sync, then drop-caches
#   fm_mixed EVERY        prints an --exec command for --exec-every EVERY that
#                         remounts at every even multiple of EVERY and syncs
#                         and drops caches at the odd ones
#
# One fm mount at a time per script. The remount command
# (tests/fsx/fsx-remount.sh) starts each new daemon itself and records its
# pid in $FM_STATE/pid; fm_umount waits for that pid. On an early exit the
# exit path of tests/lib/mount.sh unmounts the mountpoint, and the daemon
# serving it then exits by itself.

. "$top_srcdir/tests/mount/lib.sh"

FSX=$builddir/tools/foliofs-fsx
[ -x "$FSX" ] || bail "$FSX is not built"
[ -x "$CTL" ] || bail "$CTL is not built"

FM_REMOUNT="sh $srcdir/tests/fsx/fsx-remount.sh"
FM_DROP="\"\$FM_CTL\" \"\$FM_MP\" drop-caches >/dev/null"
FM_SYNC_DROP="\"\$FM_CTL\" \"\$FM_MP\" sync >/dev/null && $FM_DROP"
fm_first_pid=""

fm_mixed() {
	printf 'if [ $((FSX_OP / %s %% 2)) = 0 ]; then %s; else %s; fi' "$1" "$FM_REMOUNT" \
		"$FM_SYNC_DROP"
}

# fm_dirty_opts: the small dirty limit, if this daemon has the options.
fm_dirty_opts() {
	local out
	out=$("$FOLIOFS" /nonexistent /nonexistent -o dirty_bytes=1M,dirty_background_bytes=256K 2>&1)
	case $out in
	*"unknown option"* | *"bad "*) ;;
	*) printf ',dirty_bytes=1M,dirty_background_bytes=256K' ;;
	esac
}

# fm_mount IMG MP OPTS
fm_mount() {
	export FM_FOLIOFS=$FOLIOFS FM_FSCK=$FSCK FM_CTL=$CTL
	export FM_IMG=$1 FM_MP=$2 FM_OPTS=$3 FM_STATE=$T/fm.$RANDOM$RANDOM
	mkdir "$FM_STATE" || bail "mkdir $FM_STATE"
	mt_mount "$FM_IMG" "$FM_MP" -o "$FM_OPTS" || return 1
	fm_first_pid=$(mt_pid "$FM_MP")
	echo "$fm_first_pid" >"$FM_STATE/pid"
}

# fm_fsx DESC ARGS...
# FM_FSX_OPTS: words put before every fm_fsx run's arguments. With
# cache=kernel the runs use --msync-mapwrite: the kernel (seen on Linux 6.18)
# can zero the tail of a page dirtied through a mapping past an end of file
# that a concurrent write-through write is moving (docs/DESIGN.md, "A kernel
# race with cache=kernel"); tests/mount/mmap.sh's eof-extend shows that race
# on its own, so the consistency runs leave no mapped page dirty to meet it.
FM_FSX_OPTS=${FM_FSX_OPTS:-}
fm_fsx() {
	local desc=$1
	shift
	# shellcheck disable=SC2086 # FM_FSX_OPTS is a list of words
	(cd "$T" && "$FSX" $FM_FSX_OPTS "$@" >"$T/fsx.out" 2>"$T/fsx.err")
	rc=$?
	if [ "$rc" = 0 ]; then
		ok 0 "$desc"
		return 0
	fi
	ok 1 "$desc"
	echo "#   foliofs-fsx $* exited $rc"
	show_file "$T/fsx.err" 10
	fm_show_failure
	show_file "$FM_STATE/daemon.log" 10
	return 1
}

# The report of the first process that failed (all of it: the last
# operations are what a reproduction needs), or the start of the output.
fm_show_failure() {
	local k
	k=$(sed -n 's/^\(\[[0-9]*\] \)\{0,1\}foliofs-fsx: FAIL .*/\1/p' "$T/fsx.out" | head -n 1)
	if [ -z "$k" ]; then
		show_file "$T/fsx.out" 100
	else
		grep -F -- "$k" "$T/fsx.out" | grep -v " ops passed, seed " | head -n 100 |
			sed 's/^/#   /'
	fi
}

# fm_sum NAME: NAME summed over the saved stats files.
fm_sum() {
	cat "$FM_STATE"/stats.* 2>/dev/null | awk -v k="$1" '$1 == k { s += $2 } END { print s + 0 }'
}

# The daemon now serving FM_MP: the first one (ours, a child of this shell)
# or one the remount command started (only its pid is known).
fm_adopt_current() {
	local pid rc
	pid=$(cat "$FM_STATE/pid")
	[ "$pid" = "$fm_first_pid" ] && return 0
	if [ -n "$fm_first_pid" ]; then
		wait "$fm_first_pid" 2>/dev/null
		rc=$?
		is "$rc" 0 "the first daemon exited 0 at the remount"
		# its log (an assertion's message, say) before the name moves on
		[ "$rc" = 0 ] || show_file "$(mt_get log "$FM_MP")" 20
		mt_forget_pid "$fm_first_pid"
		fm_first_pid=""
	fi
	mt_adopt "$FM_MP" "$pid"
	mt_set log "$FM_MP" "$FM_STATE/daemon.log"
}

# fm_umount DESC
fm_umount() {
	local n
	n=$(find "$FM_STATE" -name 'stats.*' | wc -l)
	"$CTL" "$FM_MP" stats >"$FM_STATE/stats.$((n + 1))" 2>&1
	fm_adopt_current
	mt_umount_ok "$FM_MP" "$1: unmounted, daemon exited"
	mt_fsck_ok "$FM_IMG" "$1: fsck clean"
	for f in "$FM_STATE"/fsck.*; do
		[ -f "$f" ] || continue
		diag "$1: fsck at remount: $(tail -n 1 "$f")"
	done
}
