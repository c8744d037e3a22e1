#!/bin/bash
# tests/mount/daemon-basic.sh - the daemon itself on real mounts: option and
# bad-image errors (one line, non-zero exit, image unchanged, nothing
# mounted), /proc/mounts, MAP_SHARED coherence across processes in both
# cache modes, foliofs-ctl (stats, get, set, drop-caches, sync, errors),
# read-only mounts, unmount by fusermount3 -u, SIGTERM and umount, and
# mounting through mount.fuse3, each ending with the image clean (fsck 0).
#
# Every mount lives in a temporary directory and is unmounted with
# fusermount3 -u by a trap on every exit path; only daemons this script
# started are waited for (and killed only if they outlive their unmount).

# shellcheck source=tests/lib/mount.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/mount.sh"
MMAP=$builddir/tests/mount/daemon_mmap

if [ "$(id -u)" != 0 ] || [ ! -w /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	skip_all "needs root, /dev/fuse and fusermount3"
fi
for p in "$FOLIOFS" "$CTL" "$MKFS" "$FSCK" "$MMAP"; do
	[ -x "$p" ] || bail "$p is not built"
done

mt_tmpdir "${TMPDIR:-/tmp}" foliofs-daemon
TMP=$T

nlines() {
	printf '%s\n' "$1" | wc -l | tr -d ' '
}

# state IMAGE: the superblock's s_state (1 = clean).
state() {
	od -An -tu2 -j 78 -N 2 "$1" | tr -d ' '
}

# do_mount IMAGE MNT [ARGS...]: mount (the daemon goes to the background
# itself); sets $pid.
do_mount() {
	img=$1 mnt=$2
	shift 2
	run "$FOLIOFS" "$img" "$mnt" "$@"
	[ "$rc" -eq 0 ] || { echo "# mount failed ($rc): $out"; return 1; }
	pid=$("$CTL" "$mnt" get pid) || { mt_adopt "$mnt"; return 1; }
	mt_adopt "$mnt" "$pid"
}

# do_unmount MNT PID: fusermount3 -u, then up to 30 s for the daemon to finish.
do_unmount() {
	fusermount3 -u "$1" || return 1
	wait_pid_exit "$2" 30 || return 1
	mt_forget_mp "$1"
}

img=$TMP/img
mnt=$TMP/mnt
mkdir "$mnt" "$TMP/mnt2" "$TMP/bin"
"$MKFS" -q -s 64M "$img" || { echo "Bail out! mkfs failed"; exit 1; }
before=$(file_sum "$img")

# ---- bad command lines: exit 2, one line, nothing touched ----
bad_opts() {
	run "$FOLIOFS" "$@"
	is "$rc" 2 "foliofs $(echo "$@" | sed "s|$TMP/||g"): exit 2"
	like "$out" "$expect" "  says: $expect"
	is "$(nlines "$out")" 1 "  one line"
	is_mounted "$mnt" && { ok 1 "  not mounted"; fusermount3 -u "$mnt"; }
}
expect="usage"
bad_opts
expect="bad value 'bogus' for cache"
bad_opts "$img" "$mnt" -o cache=bogus
expect="bad size '12Q' for cache_size"
bad_opts "$img" "$mnt" -o cache_size=12Q
expect="unknown option 'nosuchopt'"
bad_opts "$img" "$mnt" -o rw,nosuchopt
expect="cache_max .* is smaller than cache_size"
bad_opts "$img" "$mnt" -o cache_size=1M,cache_max=512K
expect="readahead=64M is too large"
bad_opts "$img" "$mnt" -o readahead=64M
expect="$TMP/nodir: No such file or directory"
bad_opts "$img" "$TMP/nodir"
is "$(file_sum "$img")" "$before" "image unchanged by bad command lines"

# ---- bad images: exit 1, one line, image unchanged ----
bad_image() {
	b=$(file_sum "$1")
	run "$FOLIOFS" "$1" "$mnt" -f
	ok "$([ "$rc" -ne 0 ]; echo $?)" "$2: non-zero exit ($rc)"
	like "$out" "$3" "  says: $3"
	is "$(nlines "$out")" 1 "  one line"
	is "$(file_sum "$1")" "$b" "  image unchanged"
	is_mounted "$mnt" && { ok 1 "  not mounted"; fusermount3 -u "$mnt"; }
}
run "$FOLIOFS" "$TMP/missing" "$mnt"
is "$rc" 1 "missing image: exit 1"
like "$out" "$TMP/missing: no such file" "  says: no such file"
truncate -s 16M "$TMP/zero"
bad_image "$TMP/zero" "file of zeros" "not a foliofs filesystem"
cp "$img" "$TMP/newer"
put_bytes "$TMP/newer" 12 '\002'
bad_image "$TMP/newer" "newer version" "version 2"
cp "$img" "$TMP/badsum"
put_bytes "$TMP/badsum" 128 X
bad_image "$TMP/badsum" "superblock checksum" "checksum"

# ---- mount in the default mode (cache=daemon) ----
if ! do_mount "$img" "$mnt" -o rw,nodev,nosuid,noatime,_netdev,x-systemd.automount; then
	echo "Bail out! cannot mount $img"
	exit 1
fi
ok 0 "mount with generic options ignored"
mpid=$pid
line=$(awk -v m="$mnt" '$2 == m' /proc/mounts)
is "$(echo "$line" | cut -d' ' -f1-3)" "$img $mnt fuse.foliofs" "/proc/mounts: IMAGE MOUNTPOINT fuse.foliofs"
like "$line" "default_permissions" "mounted with default_permissions"
is "$(state "$img")" 0 "mounted image is marked not clean"

b=$(file_sum "$img")
run "$FOLIOFS" "$img" "$TMP/mnt2"
ok "$([ "$rc" -ne 0 ]; echo $?)" "second mount of the same image fails"
like "$out" "in use" "  says: in use"
is "$(nlines "$out")" 1 "  one line"
is_mounted "$TMP/mnt2" && { ok 1 "  not mounted"; fusermount3 -u "$TMP/mnt2"; }

is "$("$CTL" "$mnt" get cache)" daemon "cache=daemon in effect"
is "$(ctl_stat "$mnt" direct_io_allow_mmap)" 1 "FUSE_DIRECT_IO_ALLOW_MMAP negotiated"
: >"$mnt/mapped"
run "$MMAP" store-read "$mnt/mapped"
is "$rc" 0 "cache=daemon: MAP_SHARED store read back by read() in another process"
[ "$rc" -eq 0 ] || echo "# $out"
run "$MMAP" write-map "$mnt/mapped"
is "$rc" 0 "cache=daemon: write() in another process seen through the mapping"
[ "$rc" -eq 0 ] || echo "# $out"

# ---- foliofs-ctl ----
stats=$("$CTL" "$mnt" stats)
is "$?" 0 "stats: exit 0"
for n in nr_file_pages nr_free_pages nr_dirty nr_writeback pgpgin pgpgout cache_hits \
	cache_misses workingset_refault pgreadahead zswpin bdev_writes fs_free_blocks \
	fuse_lookup fuse_read; do
	like "$stats" "^$n [0-9]+$" "stats: $n"
done
for n in MemLimit MemFree Cached Dirty Writeback 'Active\(file\)' 'Inactive\(file\)' Metadata; do
	like "$stats" "^$n: +[0-9]+ kB$" "stats: $n: (meminfo)"
done
is "$("$CTL" "$mnt" get cache_size)" 268435456 "get cache_size: default 256M"
is "$("$CTL" "$mnt" get cache_max)" 536870912 "get cache_max: 2 * cache_size"
run "$CTL" "$mnt" set cache_size=128M
is "$rc" 0 "set cache_size=128M"
is "$("$CTL" "$mnt" get cache_size)" 134217728 "  get shows it"
is "$(ctl_stat "$mnt" MemLimit)" 131072 "  MemLimit follows"
run "$CTL" "$mnt" set cache_size=1G
is "$rc" 1 "set cache_size above cache_max: exit 1"
like "$out" "out of range" "  says: out of range"
run "$CTL" "$mnt" set cache_size=lots
is "$rc" 1 "set a bad value: exit 1"
like "$out" "bad size 'lots'" "  says: bad size"
run "$CTL" "$mnt" set nosuchkey=1
is "$rc" 1 "set an unknown key: exit 1"
like "$out" "unknown key 'nosuchkey'" "  says: unknown key"
run "$CTL" "$mnt" get nosuchkey
is "$rc" 1 "get an unknown key: exit 1"
run "$CTL" "$mnt" set cache_max=1G
is "$rc" 1 "set a read-only key: exit 1"
run "$CTL" "$mnt" set readahead=256K
is "$rc" 0 "set readahead=256K"
is "$("$CTL" "$mnt" get readahead)" 262144 "  get shows it"
run "$CTL" "$TMP" stats
is "$rc" 2 "stats on a directory that is not a foliofs mount: exit 2"
like "$out" "not a foliofs mount" "  says so"
run "$CTL" "$mnt" frobnicate
is "$rc" 2 "unknown command: exit 2"

dd if=/dev/urandom of="$TMP/data" bs=1M count=4 status=none
cp "$TMP/data" "$mnt/data"
run "$CTL" "$mnt" sync
is "$rc" 0 "sync: exit 0"
is "$(ctl_stat "$mnt" nr_dirty)" 0 "  nothing dirty after sync"
cat "$mnt/data" >/dev/null
cached=$(ctl_stat "$mnt" Cached)
run "$CTL" "$mnt" drop-caches
is "$rc" 0 "drop-caches: exit 0"
dropped=$(printf '%s\n' "$out" | sed -n 's/^dropped_pages //p')
ok "$([ "${dropped:-0}" -ge 1024 ]; echo $?)" "  dropped at least the 4 MiB file's pages ($dropped)"
after=$(ctl_stat "$mnt" Cached)
ok "$([ "$after" -lt "$cached" ] && [ "$after" -lt 4096 ]; echo $?)" \
	"  Cached fell from $cached kB to $after kB"
is "$(file_sum "$mnt/data")" "$(file_sum "$TMP/data")" "  data reads back after drop-caches"

# ---- clean unmount with fusermount3 -u ----
do_unmount "$mnt" "$mpid"
ok $? "fusermount3 -u: the daemon exits after writing everything"
ok "$(is_mounted "$mnt"; [ $? -ne 0 ]; echo $?)" "  not mounted any more"
run "$FSCK" "$img"
is "$rc" 0 "  fsck clean"
is "$(state "$img")" 1 "  image marked clean"

# ---- cache=kernel ----
if do_mount "$img" "$mnt" -o cache=kernel,cache_size=32M; then
	is "$("$CTL" "$mnt" get cache)" kernel "cache=kernel in effect"
	is "$(file_sum "$mnt/data")" "$(file_sum "$TMP/data")" "data survived the remount"
	: >"$mnt/mapped2"
	run "$MMAP" store-read "$mnt/mapped2"
	is "$rc" 0 "cache=kernel: MAP_SHARED store read back by read() in another process"
	run "$MMAP" write-map "$mnt/mapped2"
	is "$rc" 0 "cache=kernel: write() in another process seen through the mapping"
	do_unmount "$mnt" "$pid"
	ok $? "cache=kernel: unmounted"
	run "$FSCK" "$img"
	is "$rc" 0 "  fsck clean"
else
	ok 1 "mount -o cache=kernel"
fi

# ---- a kernel without FUSE_DIRECT_IO_ALLOW_MMAP: say so once, use cache=kernel ----
out=$(FOLIOFS_TEST_NO_ALLOW_MMAP=1 "$FOLIOFS" "$img" "$mnt" 2>&1)
rc=$?
is "$rc" 0 "cache=daemon without the kernel's offer: mounts"
if [ "$rc" -eq 0 ]; then
	pid=$("$CTL" "$mnt" get pid)
	mt_adopt "$mnt" "$pid"
	like "$out" "does not offer FUSE_DIRECT_IO_ALLOW_MMAP.*using cache=kernel" \
		"  says it falls back to cache=kernel"
	is "$(printf '%s\n' "$out" | grep -c ALLOW_MMAP)" 1 "  once"
	is "$("$CTL" "$mnt" get cache)" kernel "  cache=kernel in effect"
	is "$(ctl_stat "$mnt" direct_io_allow_mmap)" 0 "  the INIT reply was left alone"
	run "$MMAP" store-read "$mnt/mapped"
	is "$rc" 0 "  MAP_SHARED store read back by read() in another process"
	do_unmount "$mnt" "$pid"
	ok $? "  unmounted"
fi

# ---- read-only ----
b=$(file_sum "$img")
if do_mount "$img" "$mnt" -o ro; then
	run touch "$mnt/new"
	ok "$([ "$rc" -ne 0 ]; echo $?)" "ro: creating a file fails"
	like "$out" "Read-only file system" "  with EROFS"
	is "$(file_sum "$mnt/data")" "$(file_sum "$TMP/data")" "ro: data reads"
	do_unmount "$mnt" "$pid"
	ok $? "ro: unmounted"
	is "$(file_sum "$img")" "$b" "  a read-only mount wrote nothing"
else
	ok 1 "mount -o ro"
fi

# ---- SIGTERM on a foreground daemon, with files still open ----
"$FOLIOFS" "$img" "$mnt" -f -o cache_size=16M 2>"$TMP/fg.log" &
fpid=$!
mt_adopt "$mnt" "$fpid"
i=0
until "$CTL" "$mnt" get pid >/dev/null 2>&1 || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo term >"$mnt/term"
echo gone >"$mnt/gone"
exec 3<"$mnt/term" 4<"$mnt/gone"
rm "$mnt/gone"
kill -TERM "$fpid"
wait "$fpid"
is "$?" 0 "SIGTERM with files open (one unlinked): the daemon exits 0"
exec 3<&- 4<&-
mt_forget_mp "$mnt"
ok "$(is_mounted "$mnt"; [ $? -ne 0 ]; echo $?)" "  and unmounted"
is "$(cat "$TMP/fg.log")" "" "  nothing on stderr"
run "$FSCK" "$img"
is "$rc" 0 "  fsck clean (the unlinked file was freed)"
[ "$rc" -eq 0 ] || echo "# $out"
is "$(state "$img")" 1 "  image marked clean"

# ---- mount.fuse3 (what `mount -t fuse.foliofs` and fstab run) ----
# mount(8) runs /sbin/mount.fuse3 IMAGE DIR -o OPTS -t fuse.foliofs with PATH
# removed from the environment, so the program must be installed in a
# system directory for it; the test runs mount.fuse3 the same way itself,
# with foliofs found in a temporary PATH directory, and unmounts with umount.
helper=$(command -v mount.fuse3 2>/dev/null)
if [ -n "$helper" ]; then
	ln -s "$FOLIOFS" "$TMP/bin/foliofs"
	run env PATH="$TMP/bin:$PATH" "$helper" "$img" "$mnt" -o rw,noatime,cache_size=32M \
		-t fuse.foliofs
	is "$rc" 0 "mount.fuse3 IMAGE DIR -o rw,noatime,cache_size=32M -t fuse.foliofs"
	[ "$rc" -eq 0 ] || echo "# $out"
	if [ "$rc" -eq 0 ]; then
		pid=$("$CTL" "$mnt" get pid)
		mt_adopt "$mnt" "$pid"
		is "$(awk -v m="$mnt" '$2 == m { print $1, $3 }' /proc/mounts)" "$img fuse.foliofs" \
			"  /proc/mounts shows the image and fuse.foliofs"
		is "$(cat "$mnt/term")" term "  data written before SIGTERM is there"
		is "$("$CTL" "$mnt" get cache_size)" 33554432 "  options reached the daemon"
		umount "$mnt"
		wait_pid_exit "$pid" 30
		ok $? "umount: the daemon exits"
		mt_forget_mp "$mnt"
		run "$FSCK" "$img"
		is "$rc" 0 "  fsck clean"
	fi
else
	echo "# mount.fuse3 not found: the mount helper path is not tested"
fi

done_testing
