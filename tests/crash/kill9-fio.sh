#!/bin/bash
# tests/crash/kill9-fio.sh - the daemon killed with SIGKILL at random moments,
# KILL9_ROUNDS (50) times, each during a fio job that writes a new file
# sequentially in 16 KiB blocks with a crc32c verify header in each and an
# fsync after every 4 writes. After each kill: drop the dead mount, mount the
# image again (a journal would replay here), read back with fio
# --verify_only every block the fsyncs that returned covered (4 x the
# completed fsyncs fio reports), unmount, and fsck.foliofs -n finds no
# problem. Rounds alternate cache=daemon and cache=kernel; each removes the
# file of the round before, so the image does not fill. Part of
# `make check-crash`; KILL9_SEED picks the kill moments (default 1).
. "$(dirname "$0")/lib.sh"
crash_need_mounts
command -v fio >/dev/null || skip_all "fio is not installed"
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
		--fsync=4 --verify=crc32c --verify_state_save=0 --ioengine=psync "${@:2}"
}

cd "$T" || bail "cd $T"
fails=0
for ((r = 1; r <= ROUNDS; r++)); do
	mode=daemon
	((r % 2)) || mode=kernel
	opts=cache=$mode,cache_size=64M,dirty_bytes=8M,dirty_background_bytes=2M
	mt_mount "$img" "$mp" -o "$opts" || bail "mount, round $r"
	rm -f "$mp/f.$((r - 1))"
	fio_job "$r" --do_verify=0 --output-format=json --output="$T/fio.json" >/dev/null 2>&1 &
	fio_pid=$!
	# 0.2 to 2.5 s into the job
	sleep "$(printf '%d.%02d' $((RANDOM % 2)) $((RANDOM % 100)))"
	sleep 0.2
	mt_kill "$mp"
	wait "$fio_pid"
	n=$(fsynced_blocks "$T/fio.json") || n=""
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
	fi
	mt_umount "$mp" || bail "unmount, round $r"
	"$FSCK" -n "$img" >"$T/fsck.out" 2>&1
	f=$?
	ok $f "round $r ($mode): fsck finds no problem"
	[ $f = 0 ] || { show_file "$T/fsck.out" 10; fails=$((fails + 1)); }
done
diag "kill -9 during fio: $ROUNDS rounds, $fails failures"
done_testing
