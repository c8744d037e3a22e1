#!/bin/bash
# tests/mount/mmap.sh - mmap coherence (tests/mount/mmap_helper.c) in both
# cache modes, -o cache=daemon and -o cache=kernel, for block sizes 1, 2
# and 4 KiB: a MAP_SHARED store read() by another process without msync; a
# write() seen through an existing mapping; truncate, punch-hole, zero-range
# and copy_file_range under a mapping; stores through a mapping that was
# never msynced survive unmount and remount; a write past an end of file
# inside a page dirtied through the mapping, under write-back (with
# cache=kernel the kernel's own race there is a TODO); fsck clean.
. "$(dirname "$0")/lib.sh"

[ -x "$MMAP_HELPER" ] || bail "$MMAP_HELPER is not built"

for cache in daemon kernel; do
	for bs in 1024 2048 4096; do
		tag="B=$bs cache=$cache"
		img=$T/img.$bs.$cache
		mp=$T/mnt.$bs.$cache
		mt_mkfs "$img" "$bs" 32M
		mt_mount_ok "$img" "$mp" "$tag: mount" -o "cache=$cache" || continue
		# FUSE_DIRECT_IO_ALLOW_MMAP is in Linux 6.6 and later; before that
		# cache=daemon falls back to cache=kernel (and says so).
		if [ -x "$CTL" ]; then
			mode=$("$CTL" "$mp" get cache 2>&1)
			if [ "$(printf '%s\n6.6\n' "$(uname -r)" | sort -V | head -n1)" = 6.6 ]; then
				is "$mode" "$cache" "$tag: foliofs-ctl get cache: $cache is in effect"
			else
				diag "$tag: kernel $(uname -r), cache mode in effect: $mode"
			fi
		fi
		# eof-extend with cache=kernel: a known kernel race (mmap_helper.c)
		eof=eof-extend
		[ "$cache" = kernel ] && eof=eof-extend-kernel
		for check in store-read write-map truncate-map punch-map zero-map copy-map map-write \
			$eof; do
			diag "$tag: $check"
			sub_tap "$MMAP_HELPER" "$check" "$mp/$check"
		done
		mt_cycle "$img" "$mp" "$tag" -o "cache=$cache" || continue
		sub_tap "$MMAP_HELPER" map-verify "$mp/map-write"
		mt_umount_ok "$mp" "$tag: unmounted at the end"
		mt_fsck_ok "$img" "$tag: fsck clean at the end"
	done
done
done_testing
