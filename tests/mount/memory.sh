#!/bin/bash
# tests/mount/memory.sh - the daemon's resident memory follows the cache.
#
#  1. A 48 MiB file written and read back through a cache_size=64M mount
#     (cache=daemon, so every byte goes through foliofs's cache) leaves the
#     daemon's RSS at least 40 MiB above what it was after mounting.
#  2. `foliofs-ctl drop-caches` frees the clean pages and gives their memory
#     back to the system: RSS falls by at least 32 MiB, pool_trimmed moves,
#     and the file still reads back right (from the image).
#  3. `foliofs-ctl set cache_size=16M` after reading the file again: RSS ends
#     at most 24 MiB above the after-mount figure.
# Then unmount and fsck clean.
. "$(dirname "$0")/lib.sh"

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 128M
[ -x "$CTL" ] || bail "$CTL is not built"

stat_of() { # stat_of NAME: one counter from foliofs-ctl stats
	"$CTL" "$mp" stats | awk -v k="$1" '$1 == k { print $2 }'
}
rss_kb() { # rss_kb: the daemon's VmRSS in KiB
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$(mt_pid "$mp")/status"
}

mt_mount "$img" "$mp" -o cache_size=64M || bail "mount"
ok 0 "mounted with cache_size=64M"

head -c $((48 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$mp/file" && sync "$mp/file"
ok $? "a 48 MiB file written and fsynced"
"$CTL" "$mp" drop-caches >/dev/null
base=$(rss_kb)
diag "RSS after mount and drop-caches: $base KiB"
cmp -s "$T/data" "$mp/file"
ok $? "the file reads back right"
full=$(rss_kb)
ok $((full - base < 40 * 1024)) "reading it through the cache raised RSS by 40 MiB or more ($base -> $full KiB)"

trim0=$(stat_of pool_trimmed)
"$CTL" "$mp" drop-caches >/dev/null
ok $? "drop-caches"
dropped=$(rss_kb)
ok $((full - dropped < 32 * 1024)) "drop-caches gave 32 MiB or more back ($full -> $dropped KiB)"
trim1=$(stat_of pool_trimmed)
ok $((trim1 <= trim0)) "pool_trimmed moved ($trim0 -> $trim1)"
cmp -s "$T/data" "$mp/file"
ok $? "the file still reads back right, from the image"

"$CTL" "$mp" set cache_size=16M >/dev/null
ok $? "set cache_size=16M"
cmp -s "$T/data" "$mp/file"
ok $? "the file reads back right under the lower limit"
small=$(rss_kb)
ok $((small - base > 24 * 1024)) "RSS follows the lower limit: at most 24 MiB above the base ($base -> $small KiB)"

mt_umount_ok "$mp" "unmounted"
mt_fsck_ok "$img" "fsck clean"
done_testing
