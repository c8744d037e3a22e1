#!/bin/bash
# tests/mount/memory.sh - the daemon's resident memory follows the cache.
#
#  1. A 48 MiB file written and read back through a cache_size=64M mount
#     (cache=daemon, so every byte goes through foliofs's cache) leaves at
#     least 40 MiB of the page pool resident (PoolResident in foliofs-ctl
#     stats, which asks mincore) and the daemon's RSS as much higher.
#  2. `foliofs-ctl drop-caches` frees the clean pages and gives their memory
#     back to the system: PoolResident falls under 1 MiB, RSS by at least
#     32 MiB, pool_trimmed moves, and the file still reads back right.
#  3. `foliofs-ctl set cache_size=16M`, then reading the file again:
#     PoolResident stays within the 16 MiB limit plus the reserve, RSS ends
#     at most 24 MiB above the after-mount figure.
#  4. With the compressed tier full: zswap_max_pool_percent=50 and a 32 MiB
#     file of data that compresses 2:1 read twice through the 16 MiB cache.
#     The tier's pool (Zswap) is at least 3/4 of its 8 MiB maximum and holds
#     more than it takes (Zswapped), yet PoolResident still stays within the
#     16 MiB limit plus the reserve and RSS at most 24 MiB above the base:
#     the pool's pages are the cache's own.
# Under AddressSanitizer the RSS checks are skipped (its allocator keeps
# freed request buffers in quarantine); the PoolResident checks still run.
# Then unmount and fsck clean.
. "$(dirname "$0")/lib.sh"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 128M
[ -x "$CTL" ] || bail "$CTL is not built"

rss_kb() { # rss_kb: the daemon's VmRSS in KiB
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$(mt_pid "$mp")/status"
}
asan=0
if ldd "$FOLIOFS" 2>/dev/null | grep -q libasan; then
	asan=1
fi
# rss_check STATUS DESC: an RSS check, skipped under AddressSanitizer.
rss_check() {
	if [ "$asan" = 1 ]; then skip "$2 (AddressSanitizer build)"; else ok "$1" "$2"; fi
}

mt_mount "$img" "$mp" -o cache_size=64M || bail "mount"
ok 0 "mounted with cache_size=64M"

head -c $((48 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$mp/file" && sync "$mp/file"
ok $? "a 48 MiB file written and fsynced"
"$CTL" "$mp" drop-caches >/dev/null
base=$(rss_kb)
pool0=$(ctl_stat "$mp" PoolResident)
diag "after mount and drop-caches: RSS $base KiB, PoolResident $pool0 kB"
cmp -s "$T/data" "$mp/file"
ok $? "the file reads back right"
full=$(rss_kb)
pool1=$(ctl_stat "$mp" PoolResident)
ok $((pool1 < 40 * 1024)) "reading it through the cache made 40 MiB or more of the pool resident ($pool0 -> $pool1 kB)"
rss_check $((full - base < 40 * 1024)) "and raised RSS by 40 MiB or more ($base -> $full KiB)"

trim0=$(ctl_stat "$mp" pool_trimmed)
"$CTL" "$mp" drop-caches >/dev/null
ok $? "drop-caches"
dropped=$(rss_kb)
pool2=$(ctl_stat "$mp" PoolResident)
ok $((pool2 >= 1024)) "drop-caches gave the pool's memory back ($pool1 -> $pool2 kB resident)"
rss_check $((full - dropped < 32 * 1024)) "RSS fell by 32 MiB or more ($full -> $dropped KiB)"
trim1=$(ctl_stat "$mp" pool_trimmed)
ok $((trim1 <= trim0)) "pool_trimmed moved ($trim0 -> $trim1)"
cmp -s "$T/data" "$mp/file"
ok $? "the file still reads back right, from the image"

"$CTL" "$mp" set cache_size=16M >/dev/null
ok $? "set cache_size=16M"
cmp -s "$T/data" "$mp/file"
ok $? "the file reads back right under the lower limit"
small=$(rss_kb)
pool3=$(ctl_stat "$mp" PoolResident)
ok $((pool3 > 16 * 1024 + 16)) "the resident pool stays within the 16 MiB limit and 4 reserve pages ($pool3 kB)"
rss_check $((small - base > 24 * 1024)) "RSS follows the lower limit: at most 24 MiB above the base ($base -> $small KiB)"

# 4. the compressed tier full
"$CTL" "$mp" set zswap_max_pool_percent=50 >/dev/null
ok $? "set zswap_max_pool_percent=50"
"$PY" -c '
import os, sys
with open(sys.argv[1], "wb") as f:
    for i in range(8192):
        f.write(os.urandom(2048) + bytes(2048))
' "$T/half"
cp "$T/half" "$mp/half" && sync "$mp/half"
ok $? "a 32 MiB file of 2:1 data written"
cmp -s "$T/half" "$mp/half" && cmp -s "$T/half" "$mp/half"
ok $? "read twice through the 16 MiB cache, bytes right"
zswap=$(ctl_stat "$mp" Zswap)
zmax=$(ctl_stat "$mp" ZswapMax)
zswapped=$(ctl_stat "$mp" Zswapped)
diag "tier: Zswap $zswap kB of $zmax kB, Zswapped $zswapped kB, ratio $(ctl_stat "$mp" ZswapRatio)"
ok $((zswap * 4 < zmax * 3)) "the tier is full: its pool holds $zswap of $zmax kB"
ok $((zswapped <= zswap)) "and holds more than it takes ($zswapped kB of pages)"
full4=$(rss_kb)
pool4=$(ctl_stat "$mp" PoolResident)
ok $((pool4 > 16 * 1024 + 16)) "with the tier full the resident pool stays within 16 MiB and the reserve ($pool4 kB)"
rss_check $((full4 - base > 24 * 1024)) "RSS follows cache_size with the tier full: at most 24 MiB above the base ($base -> $full4 KiB)"

mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean"
done_testing
