#!/bin/bash
# tests/mount/limits.sh - files and paths at their limits (tests/mount/
# limits.py), each step ending with fsck.foliofs -n clean and the daemon
# alive:
#  1. two files of LIMITS_EXTENTS extents each (10,000; 100,000 with
#     LIMITS_FULL=1, as make check-load sets) on a 1 KiB-block image: one
#     written one block in two, one written whole and punched one block in
#     two; size, st_blocks, every block (data or zeros), SEEK_DATA/SEEK_HOLE;
#     the same after a remount (the trees read from the image); removing
#     both gives back every block.
#  2. a path of PATH_MAX - 1 bytes made of 255-byte components, with a file
#     at its end, and a symlink whose target is that path: both read; a
#     byte more is ENAMETOOLONG; after a remount the same, then the tree is
#     renamed at its top and removed.
# The other limits have their own scenarios: a 1 TiB sparse file and EFBIG
# past the largest offset (sparse.sh), a directory of 100,000 entries
# (bigdir.sh; 1,000,000 in make check-load), an image filled to ENOSPC and
# to no free inodes (enospc.sh), xattrs at their size limit and names of
# 255/256 bytes (xattr.sh), names and symlink targets at their limits
# (ops.sh).
. "$(dirname "$0")/lib.sh"

if [ "${LIMITS_FULL:-0}" = 1 ]; then
	N=${LIMITS_EXTENTS:-100000}
	size=512M
else
	N=${LIMITS_EXTENTS:-10000}
	size=128M
fi

# alive_fsck DESC: the daemon still serves the mount; unmount; fsck -n clean.
step_end() {
	ok "$(pid_alive "$(mt_pid "$mp")"; echo $?)" "$1: the daemon is alive"
	mt_umount_ok "$mp" "$1: unmounted"
	mt_fsck_ok "$img" "$1: fsck clean"
}

img=$T/img
mp=$T/mnt
mt_mkfs "$img" 1024 "$size"
mt_mount_ok "$img" "$mp" "B=1024: mount" || done_testing
t0=$(date +%s)
py_tap -- "$PYDIR/limits.py" extents "$mp" 1024 "$N" "$T/state"
t1=$(date +%s)
diag "time: $N extents twice in $((t1 - t0)) s"
step_end "$N extents"
mt_mount_ok "$img" "$mp" "mount again" -o cache_size=4M || done_testing
py_tap -- "$PYDIR/limits.py" extents-check "$mp" 1024 "$N" "$T/state"
diag "time: read back and removed in $(($(date +%s) - t1)) s"
step_end "$N extents, removed"

mt_mkfs "$img" 4096 64M
mt_mount_ok "$img" "$mp" "B=4096: mount" || done_testing
py_tap -- "$PYDIR/limits.py" paths "$mp"
step_end "a 4095-byte path"
mt_mount_ok "$img" "$mp" "mount again" || done_testing
py_tap -- "$PYDIR/limits.py" paths-check "$mp"
step_end "the long path renamed and removed"
done_testing
