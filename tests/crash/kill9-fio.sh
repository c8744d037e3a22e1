#!/bin/bash
# tests/crash/kill9-fio.sh - the daemon killed with SIGKILL at random moments,
# KILL9_ROUNDS (50) times after a first kill at once (round 0), each during
# a fio job that writes a new file sequentially in 16 KiB blocks with a
# crc32c verify header in each and an fsync after every 4 writes. After each
# kill: drop the dead mount, check that nothing was written in the bare
# mountpoint, mount the image again (the journal replays here), read back
# with fio --verify_only every block the fsyncs that returned covered (4 x
# the completed fsyncs fio reports), unmount, and fsck.foliofs -n finds no
# problem. Rounds alternate cache=daemon and cache=kernel; each removes the
# file of the round before, so the image does not fill. Part of
# `make check-crash`; KILL9_SEED picks the kill moments (default 1).
#
# The file is made on the mount first (fallocate(1), 384 MiB: the unwritten
# extents fio's own fallocate would make) and fio runs with
# allow_file_create=0, so it only opens it. Without that, a kill before
# fio's job process had opened its file (fio starting slowly) left the mount
# gone and the job creating and writing the file in the bare mountpoint
# directory instead, reporting every fsync done; the verify then met the
# image's file, zeros from offset 0 (a false failure, seen once in a run of
# 50). Now such a job fails to open and reports no fsync, and every round
# checks that nothing appeared in the bare mountpoint. Round 0 kills at
# once, before fio can have opened anything: that case every time.
#
# A round whose verify fails shows the killed daemon's and the remount's
# logs (corruption, the journal's replay line), then verifies once more
# after another unmount and mount: a second failure means the image is
# wrong, a pass a read that went wrong. With CRASH_KEEP=DIR each round's
# image is copied before the remount, and a failing round's copy (the
# journal not yet replayed), its logs and fio's outputs are kept in DIR.
. "$(dirname "$0")/lib.sh"
crash_need_mounts
command -v fio >/dev/null || skip_all "fio is not installed"
command -v fallocate >/dev/null || skip_all "fallocate(1) is not installed"
crash_tmpdir crash-kill9
ROUNDS=${KILL9_ROUNDS:-50}
RANDOM=${KILL9_SEED:-1}
img=$T/img
mp=$T/mnt
BS=16
mt_mkfs "$img" 4096 1G

fsynced_blocks() {
	python3 - "$1" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
print(4 * j["sync"]["lat_ns"]["N"])  # completed fsyncs only, each after 4 writes
PY
}

fio_job() {
	fio --name="kill9-$1" --filename="$mp/f.$1" --rw=write --bs=${BS}k --size=384M \
		--fsync=4 --verify=crc32c --verify_state_save=0 --ioengine=psync \
		--allow_file_create=0 "${@:2}"
}

# After a failed verify (mounted): the logs, a second verify after a
# remount, and with CRASH_KEEP the evidence.
verify_failed() {
	local r=$1 n=$2 remount_log=$MT_LOG d
	diag "the killed daemon's log:"
	show_file "$killed_log" 10
	diag "the remount's log:"
	show_file "$remount_log" 10
	mt_umount "$mp" || bail "unmount, round $r"
	mt_mount "$img" "$mp" -o "$opts" || bail "mount again, round $r"
	if fio_job "$r" --size=$((n * BS))k --verify_only >"$T/verify2.out" 2>&1; then
		diag "round $r: a second verify after a remount passes (a read went wrong)"
	else
		diag "round $r: a second verify after a remount fails too (the image is wrong)"
	fi
	if [ -n "${CRASH_KEEP:-}" ]; then
		d=$CRASH_KEEP/kill9-round$r
		mkdir -p "$d" && cp --sparse=always "$T/img.killed" "$d/img.killed" &&
			cp "$killed_log" "$remount_log" "$T"/fio.json "$T"/verify*.out "$d/" &&
			diag "kept in $d (img.killed: the image before the journal's replay)"
	fi
}

cd "$T" || bail "cd $T"
fails=0
for ((r = 0; r <= ROUNDS; r++)); do
	mode=daemon
	((r % 2)) || mode=kernel
	opts=cache=$mode,cache_size=64M,dirty_bytes=8M,dirty_background_bytes=2M
	mt_mount "$img" "$mp" -o "$opts" || bail "mount, round $r"
	rm -f "$mp/f.$((r - 1))"
	rm -f "$T/fio.json"
	fallocate -l 384M "$mp/f.$r" || bail "fallocate, round $r"
	fio_job "$r" --do_verify=0 --output-format=json --output="$T/fio.json" >/dev/null 2>&1 &
	fio_pid=$!
	if ((r)); then
		# 0.2 to 2.5 s into the job
		sleep "$(printf '%d.%02d' $((RANDOM % 2)) $((RANDOM % 100)))"
		sleep 0.2
	fi
	killed_log=$MT_LOG
	mt_kill "$mp"
	wait "$fio_pid"
	stray=$(ls -A "$mp")
	if [ -n "$stray" ]; then
		ok 1 "round $r ($mode): fio wrote nothing outside the mount"
		diag "the bare mountpoint holds: $stray"
		fails=$((fails + 1))
		find "$mp" -mindepth 1 -delete
	fi
	n=$(fsynced_blocks "$T/fio.json") || n=""
	[ -n "${CRASH_KEEP:-}" ] && cp --sparse=always "$img" "$T/img.killed"
	if ! mt_mount "$img" "$mp" -o "$opts"; then
		ok 1 "round $r ($mode): mounted again after the kill"
		fails=$((fails + 1))
		continue
	fi
	if [ -z "$n" ]; then
		ok 1 "round $r ($mode): fio's report names the completed fsyncs"
	elif [ "$n" = 0 ]; then
		ok 0 "round $r ($mode): killed before the first fsync returned"
	else
		fio_job "$r" --size=$((n * BS))k --verify_only >"$T/verify.out" 2>&1
		v=$?
		ok $v "round $r ($mode): the $n fsynced blocks ($((n * BS)) KiB) verify"
		[ $v = 0 ] || { grep -E "verify|err=" "$T/verify.out" | head -n 3 | sed 's/^/#   /'; fails=$((fails + 1)); }
		[ $v = 0 ] || verify_failed "$r" "$n"
	fi
	mt_umount "$mp" || bail "unmount, round $r"
	"$FSCK" -n "$img" >"$T/fsck.out" 2>&1
	f=$?
	ok $f "round $r ($mode): fsck finds no problem"
	[ $f = 0 ] || { show_file "$T/fsck.out" 10; fails=$((fails + 1)); }
done
diag "kill -9 during fio: $ROUNDS rounds, $fails failures"
done_testing
