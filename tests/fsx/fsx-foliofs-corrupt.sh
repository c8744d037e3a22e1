#!/bin/bash
# tests/fsx/fsx-foliofs-corrupt.sh - foliofs-fsx catches data damaged on its
# way to the image. The test-only mount option debug_corrupt_writes=N puts
# backing/faulty.c in the daemon's file-data path, flipping one byte in every
# Nth file-data write to the image (N = 0: in the path, off; foliofs-ctl set
# debug_corrupt_writes=N changes it while mounted). Metadata never passes
# through it, so the image stays fsck-clean whatever the data holds.
#
#   cache=daemon: with the wrapper on but off, a run with sync and drop-caches
#     every 100 ops passes (the wrapper itself changes nothing). With every
#     write corrupted, the same run fails at the first whole-file check after
#     the drop (the cache no longer hides the image): exit 1, a hexdump with
#     the differing row marked, the last operations, .fsxgood/.fsxbad in the
#     -P directory that differ in bytes flipped with 0xff, and the daemon's
#     debug_corrupted_writes counter moved.
#   cache=kernel: every write corrupted from the mount on, remount after op 200; the whole
#     file is read from the image again after the remount and fails.
#   Refusals: a bad value for the option, and foliofs-ctl set on a mount
#     without it.
. "$top_srcdir/tests/fsx/fsx-mount-lib.sh"

img=$T/img
mp=$T/mnt
save=$T/save
mkdir -p "$save"

# fm_fsx_fails DESC ARGS...: the run must exit 1.
fm_fsx_fails() {
	local desc=$1
	shift
	(cd "$T" && "$FSX" "$@" >"$T/fsx.out" 2>"$T/fsx.err")
	rc=$?
	is "$rc" 1 "$desc"
	[ "$rc" = 1 ] || { show_file "$T/fsx.out" 20; show_file "$T/fsx.err" 10; }
}

# flipped_only GOOD BAD: the files differ, and only in bytes XORed with 0xff.
flipped_only() {
	cmp -l "$1" "$2" >"$T/cmp" 2>/dev/null
	[ -s "$T/cmp" ] || return 1
	awk '{ a = 0; b = 0
		for (i = 1; i <= length($2); i++) a = a * 8 + substr($2, i, 1)
		for (i = 1; i <= length($3); i++) b = b * 8 + substr($3, i, 1)
		if (a + b != 255) bad++ }
	     END { exit bad > 0 }' "$T/cmp"
}

mt_mkfs "$img" 4096 32M
if ! fm_mount "$img" "$mp" "cache=daemon,cache_size=16M,debug_corrupt_writes=0"; then
	bail "mount -o debug_corrupt_writes=0 failed"
fi
ok 0 "cache=daemon: mounted with -o debug_corrupt_writes=0"
like "$("$CTL" "$mp" stats)" "^debug_corrupted_writes 0$" "stats show debug_corrupted_writes 0"
fm_fsx "corruption off: 300 ops with sync+drop-caches every 100 pass" \
	-q -N 300 -S 77 --exec "$FM_SYNC_DROP" --exec-every 100 "$mp/clean"

check "foliofs-ctl set debug_corrupt_writes=1" "$CTL" "$mp" set debug_corrupt_writes=1
fm_fsx_fails "corruption on: the same run exits 1" \
	-N 300 -S 77 --exec "$FM_SYNC_DROP" --exec-every 100 -P "$save" "$mp/bad"
like "$(cat "$T/fsx.out")" "FAIL after op 100 .*whole-file check after --exec.*first difference at offset" \
	"corruption on: caught by the whole-file check after the first drop-caches"
like "$(cat "$T/fsx.out")" "^\* 0x[0-9a-f]{8} " "corruption on: the hexdump marks the differing row"
like "$(cat "$T/fsx.out")" "^last [0-9]+ operations" "corruption on: the last operations are listed"
like "$(cat "$T/fsx.out")" "expected 0x([0-9a-f]{2}), got 0x" "corruption on: expected and actual bytes named"
check "corruption on: .fsxgood and .fsxbad saved in the -P directory" \
	test -f "$save/bad.fsxgood" -a -f "$save/bad.fsxbad"
check "corruption on: the copies differ only in bytes flipped with 0xff" \
	flipped_only "$save/bad.fsxgood" "$save/bad.fsxbad"
diag "bytes differing: $(wc -l <"$T/cmp")"
n=$("$CTL" "$mp" stats | awk '$1 == "debug_corrupted_writes" { print $2 }')
ok $([ "${n:-0}" -gt 0 ] && echo 0 || echo 1) "corruption on: debug_corrupted_writes moved (${n:-none})"
check "foliofs-ctl set debug_corrupt_writes=0" "$CTL" "$mp" set debug_corrupt_writes=0
fm_umount "cache=daemon, corrupted data"

# cache=kernel: the kernel's page cache is in front; a remount empties it.
mt_mkfs "$img" 4096 32M
if fm_mount "$img" "$mp" "cache=kernel,cache_size=16M,debug_corrupt_writes=1"; then
	ok 0 "cache=kernel: mounted with -o debug_corrupt_writes=1"
	fm_fsx_fails "cache=kernel, every write corrupted: exits 1" \
		-N 400 -S 78 --exec "$FM_REMOUNT" --exec-every 200 -P "$save" "$mp/k"
	like "$(cat "$T/fsx.out")" "FAIL after op 200 .*whole-file check after --exec" \
		"cache=kernel: caught by the whole-file check after the remount"
	check "cache=kernel: the copies differ only in bytes flipped with 0xff" \
		flipped_only "$save/k.fsxgood" "$save/k.fsxbad"
	fm_umount "cache=kernel, corrupted data"
else
	ok 1 "cache=kernel: mounted with -o debug_corrupt_writes=1"
fi

# Refusals.
mt_try_mount "$img" "$mp" -o debug_corrupt_writes=x
is "$rc" 2 "debug_corrupt_writes=x is refused (exit 2)"
like "$out" "debug_corrupt_writes" "and the message names the option"
if mt_mount "$img" "$mp"; then
	out=$("$CTL" "$mp" set debug_corrupt_writes=1 2>&1)
	ok $([ $? != 0 ] && echo 0 || echo 1) "set debug_corrupt_writes without the mount option fails"
	like "$out" "needs a mount with that option" "and says why"
	if "$CTL" "$mp" stats | grep -q "^debug_corrupted_writes"; then
		ok 1 "no debug_corrupted_writes line without the option"
	else
		ok 0 "no debug_corrupted_writes line without the option"
	fi
	mt_umount_ok "$mp" "plain mount: unmounted"
	mt_fsck_ok "$img" "plain mount: fsck clean"
else
	ok 1 "plain mount"
fi
done_testing
