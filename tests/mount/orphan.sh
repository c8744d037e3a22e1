#!/bin/bash
# tests/mount/orphan.sh - unlinked but open files (tests/mount/orphan.py),
# for block sizes 1, 2 and 4 KiB: the data stays readable and writable
# through open descriptors and mappings and the space is kept until the
# last close or munmap, then comes back exactly. Then the orphan list: a
# file held open and unlinked, `foliofs-ctl sync`, the daemon killed with
# SIGKILL; fsck accepts the not-clean image; the next mount says it was not
# cleanly unmounted and frees the orphan; fsck clean after.
. "$(dirname "$0")/lib.sh"

for bs in 1024 2048 4096; do
	tag="B=$bs"
	img=$T/img.$bs
	mp=$T/mnt.$bs
	mt_mkfs "$img" "$bs" 64M
	mt_mount_ok "$img" "$mp" "$tag: mount" || continue
	py_tap -- "$PYDIR/orphan.py" live "$mp" "$bs" "$T/state.$bs"
	if [ ! -x "$CTL" ]; then
		skip "$tag: crash with an orphan (tools/foliofs-ctl is not built)"
		mt_umount_ok "$mp" "$tag: unmounted"
		mt_fsck_ok "$img" "$tag: fsck clean"
		continue
	fi
	rm -f "$T/ready"
	env PYTHONPATH="$PYDIR" "$PY" "$PYDIR/orphan.py" hold "$mp" "$bs" "$T/ready" \
		>"$T/hold.out" 2>&1 &
	holder=$!
	mt_helpers="$mt_helpers $holder"
	for ((i = 0; i < 100; i++)); do
		[ -e "$T/ready" ] && break
		sleep 0.1
	done
	check "$tag: a file is held open and unlinked" test -e "$T/ready"
	check "$tag: foliofs-ctl sync" "$CTL" "$mp" sync
	daemon=$(mt_pid "$mp")
	kill -KILL "$daemon"
	wait "$daemon" 2>/dev/null
	mt_forget_pid "$daemon"
	kill -KILL "$holder"
	wait "$holder" 2>/dev/null
	mt_forget_pid "$holder"
	fusermount3 -u "$mp" 2>/dev/null || fusermount3 -u -z "$mp"
	check "$tag: the killed daemon's mount is gone" not_mounted "$mp"
	mt_crash_fsck "$img" "$tag: fsck accepts the crashed image once its journal is replayed"
	grep -i orphan "$T/fsck.out" | sed 's/^/# fsck: /'
	mt_mount_ok "$img" "$mp" "$tag: mount after the crash" || continue
	like "$(cat "$MT_LOG")" "not cleanly unmounted|unclean|not clean" \
		"$tag: the daemon says it was not cleanly unmounted"
	py_tap -- "$PYDIR/orphan.py" after "$mp" "$bs" "$T/state.$bs"
	mt_umount_ok "$mp" "$tag: unmounted at the end"
	mt_fsck_ok "$img" "$tag: fsck clean at the end"
done
done_testing
