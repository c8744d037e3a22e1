#!/bin/bash
# tests/mount/soak.sh - the long soak of make check-load: fio with
# verify=crc32c and fsync, 4 jobs, for SOAK_SECONDS (600), while another
# process changes cache_size, the dirty limits and readahead and drops the
# caches through foliofs-ctl every SOAK_PERIOD seconds (2). Not part of
# make check.
#
# The jobs (one file each, on a cache=daemon mount of a 1 GiB image with
# cache_size=32M, cache_max=128M, so the files, 144 MiB together, never fit
# the cache): random writes of 4 KiB, of 1536 bytes (not a multiple of any
# block or page) and of 64 KiB, and sequential writes of 128 KiB (its
# verify reads are sequential: readahead); an fsync every 8 writes;
# time_based; verify_backlog makes fio read back and check each block some
# writes after writing it, throughout the run, and verify_fatal stops a job
# at the first bad block. Checks: fio exits 0 with no verify error in its
# output, every job verified blocks (read count), every foliofs-ctl
# command succeeded, the daemon answered every probe of the watchdog
# (tests/mount/loadlib.sh), and after unmount fsck is clean; then a remount
# reads every file whole (no I/O error) and fsck is clean again.
# SOAK_MOUNT_OPTS adds mount options (debug_corrupt_writes=50 must fail it).
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/mount/loadlib.sh
. "$MT_SRC/loadlib.sh"

command -v fio >/dev/null || skip_all "fio is not installed"
[ -x "$CTL" ] || bail "$CTL is not built"
SECS=${SOAK_SECONDS:-600}
PERIOD=${SOAK_PERIOD:-2}

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 1G
mt_mount "$img" "$mp" -o "cache=daemon,cache_size=32M,cache_max=128M${SOAK_MOUNT_OPTS:+,$SOAK_MOUNT_OPTS}" || bail "mount"
ok 0 "mounted with cache=daemon, cache_size=32M, cache_max=128M"
ld_init "$mp"
ld_save_settings
mkdir "$mp/soak" || bail "mkdir"

cat >"$T/soak.fio" <<JOB
[global]
directory=$mp/soak
ioengine=psync
verify=crc32c
verify_fatal=1
verify_backlog=128
fsync=8
time_based=1
runtime=$SECS
randrepeat=0
[rand4k]
rw=randwrite
bs=4k
size=32M
[odd]
rw=randwrite
bs=1536
size=16M
[seq128k]
rw=write
bs=128k
size=48M
[rand64k]
rw=randwrite
bs=64k
size=48M
JOB

ld_changer "$PERIOD" "set cache_size=4M" "set readahead=0" "set dirty_bytes=1M" \
	"set dirty_background_bytes=256K" "drop-caches" "set cache_size=128M" "set readahead=16M" \
	"set dirty_ratio=50" "set dirty_background_ratio=25" "set cache_size=512K" \
	"set readahead=128K" "drop-caches" "set cache_size=32M" "set dirty_bytes=16M" \
	"set dirty_background_bytes=4M" "set readahead=2M" "set cache_size=8M" \
	"set dirty_ratio=20" "set dirty_background_ratio=10" "drop-caches" &
changer_pid=$!
mt_helpers="$mt_helpers $changer_pid"
t0=$(date +%s)
# from $T: fio leaves its verify state files in the working directory
(cd "$T" && exec timeout -k 10 $((SECS + 600)) fio "$T/soak.fio" --output-format=json \
	--output="$T/fio.json") >"$T/fio.err" 2>&1 &
fio_pid=$!
mt_helpers="$mt_helpers $fio_pid"
ld_watch "$fio_pid"
wait "$fio_pid"
fio_rc=$?
mt_forget_pid "$fio_pid"
t1=$(date +%s)
touch "$T/stop"
wait "$changer_pid"
mt_forget_pid "$changer_pid"
[ "$ld_late" -gt 0 ] && bail "the daemon hung"

bad=$(grep -ciE "verify: bad|verify failed|bad magic|bad header" "$T/fio.json" "$T/fio.err" |
	awk -F: '{ n += $2 } END { print n + 0 }')
ok $((fio_rc != 0 || bad != 0)) "fio ran $((t1 - t0)) s and exited 0 with 0 verify errors (exit $fio_rc, $bad error lines)"
[ "$fio_rc" = 0 ] || { show_file "$T/fio.err" 20; grep -iE "verify|err" "$T/fio.json" | head -n 20 | sed 's/^/#   /'; }
"$PY" - "$T/fio.json" >"$T/jobs.out" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])
for x in j["jobs"]:
    print(x["jobname"], x["error"], x["write"]["total_ios"], x["read"]["total_ios"],
          x["sync"]["lat_ns"]["N"], x["write"]["io_bytes"], x["read"]["io_bytes"])
PY
ok $? "fio's report reads"
total_w=0
total_r=0
while read -r name err w r syncs wb rb; do
	diag "$name: $w writes ($((wb >> 20)) MiB), $r verify reads ($((rb >> 20)) MiB), $syncs fsyncs, error $err"
	ok $((err != 0 || r == 0)) "job $name: no error, $r blocks verified"
	total_w=$((total_w + w))
	total_r=$((total_r + r))
done <"$T/jobs.out"
diag "total: $total_w writes, $total_r blocks read back and verified in $((t1 - t0)) s"
ld_changer_ok
ok "$(pid_alive "$LD_PID"; echo $?)" "the daemon is alive"
ld_restore_settings
diag "stats: $(ld_ctl stats | awk '$1 ~ /^(pgscan_direct|pgsteal_kswapd|pgwrite_reclaim|pgwrite_background|balance_dirty_pages_events|pgreadahead|lru_dropped_pages|wb_errors|read_errors|fuse_errors)$/ { printf "%s %s ", $1, $2 }')"
mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean after the soak"
mt_mount_ok "$img" "$mp" "mounted again" -o cache_size=8M || done_testing
unread=0
for f in "$mp"/soak/*; do
	cat "$f" >/dev/null || unread=$((unread + 1))
done
ok "$unread" "every file reads whole after the remount ($unread failed)"
mt_umount_ok "$mp" "unmounted again"
mt_fsck_ok "$img" "fsck clean at the end"
t2=$(date +%s)
diag "time: fio $((t1 - t0)) s, checks, remount and fsck $((t2 - t1)) s"
done_testing
