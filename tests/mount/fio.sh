#!/bin/bash
# tests/mount/fio.sh - fio with verify=crc32c: a sequential write, a random
# write in 4 KiB blocks and a random write in 1536-byte blocks (not a
# multiple of any block size), each verified as fio writes it, then again
# with --verify_only after unmount, fsck and remount; for block sizes 1, 2
# and 4 KiB in the default cache mode and once with -o cache=kernel.
. "$(dirname "$0")/lib.sh"

command -v fio >/dev/null || skip_all "fio is not installed"
SEQ=${FIO_SEQ_SIZE:-64m}
RAND=${FIO_RAND_SIZE:-64m}

# job MOUNTPOINT: the job file.
job() {
	cat <<JOB
[global]
directory=$1
ioengine=psync
verify=crc32c
verify_fatal=1
do_verify=1
randrepeat=1
[seq]
rw=write
bs=128k
size=$SEQ
filename=seq
[rand]
stonewall
rw=randwrite
bs=4k
size=$RAND
randseed=4321
filename=rand
[odd]
stonewall
rw=randwrite
bs=1536
size=6m
randseed=8765
filename=odd
JOB
}

# run_fio DESC ARGS...: one TAP line; fio's output shown when it fails.
run_fio() {
	local desc=$1
	shift
	# from $T: fio leaves its verify state files in the working directory
	(cd "$T" && fio "$@") >"$T/fio.out" 2>&1
	local r=$?
	if [ "$r" = 0 ] && ! grep -qiE "verify: bad|crc32c: verify failed|bad magic" "$T/fio.out"; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		echo "#   fio exit $r"
		grep -iE "err|verify|bad" "$T/fio.out" | head -n 20 | sed 's/^/#   /'
	fi
}

run_one() {
	local bs=$1 cache=$2 img mp
	local tag="B=$bs cache=$cache"
	img=$T/img.$bs.$cache
	mp=$T/mnt.$bs.$cache
	mt_mkfs "$img" "$bs" 256M
	mt_mount_ok "$img" "$mp" "$tag: mount" -o "cache=$cache" || return
	job "$mp" >"$T/job.$bs.$cache.fio"
	run_fio "$tag: fio seq/rand/odd writes verify with crc32c" "$T/job.$bs.$cache.fio"
	mt_cycle "$img" "$mp" "$tag" -o "cache=$cache" || return
	run_fio "$tag: fio --verify_only after remount" --verify_only "$T/job.$bs.$cache.fio"
	is "$(stat -c %s "$mp/seq" "$mp/rand" "$mp/odd" | paste -sd' ')" \
		"$(($(numfmt --from=iec "${SEQ^^}"))) $(($(numfmt --from=iec "${RAND^^}"))) 6291456" \
		"$tag: file sizes after remount"
	mt_umount_ok "$mp" "$tag: unmounted at the end"
	mt_fsck_ok "$img" "$tag: fsck clean at the end"
	rm -f "$img"
}

for bs in 1024 2048 4096; do
	run_one "$bs" daemon
done
run_one 4096 kernel
done_testing
