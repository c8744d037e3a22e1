#!/bin/sh
# tests/fsx/fsx-tool.sh - foliofs-fsx passes on tmpfs and on a disk filesystem
# under /tmp with every operation on, exercises every operation the filesystem
# supports, and passes in multi-process mode (and names a failing process).
. "$top_srcdir/tests/fsx/lib.sh"

SEEDS="1 2 3 4"
NOPS=5000

# The note that turns each operation off when the filesystem refuses it.
note_for() {
	case $1 in
	zero_range) echo "ZERO_RANGE" ;;
	punch_hole) echo "PUNCH_HOLE" ;;
	falloc_keep) echo "KEEP_SIZE" ;;
	falloc) echo "note: fallocate not" ;;
	copy_range) echo "copy_file_range" ;;
	dio_*) echo "O_DIRECT" ;;
	map*) echo "shared mmap" ;;
	*) echo "never-turned-off" ;;
	esac
}

# Every operation in the summary ran at least once, unless a note turned it off.
all_ops_ran() {
	sum=$(grep ' ops passed' "$1" | tr '(' ' ') && [ -n "$sum" ] || return 1
	for op in read write mapread mapwrite truncate falloc falloc_keep punch_hole \
		zero_range copy_range fsync fdatasync reopen dio_read dio_write; do
		case $sum in
		*" $op 0,"*)
			grep -q "$(note_for "$op")" "$2" || {
				echo "# $op never ran and no note says why"
				return 1
			}
			;;
		*" $op "[0-9]*) ;;
		*)
			echo "# $op is missing from the summary"
			return 1
			;;
		esac
	done
}

# run_seeds DIR LABEL: several seeds in DIR, every operation on.
run_seeds() {
	for seed in $SEEDS; do
		run_fsx "$T/out" "$T/err" -q -N $NOPS -S "$seed" -P "$T" "$1/file"
		ok $rc "$2: seed $seed, $NOPS ops, exit 0"
		[ $rc = 0 ] || show_file "$T/out" 40
		check "$2: seed $seed: summary names $NOPS ops and the seed" \
			grep -q "file: $NOPS ops passed, seed $seed (" "$T/out"
		check "$2: seed $seed: every supported operation ran" all_ops_ran "$T/out" "$T/err"
		check "$2: seed $seed: each note is printed once" \
			test -z "$(sort "$T/err" | uniq -d)"
		sed 's/^/# stderr: /' "$T/err"
	done
}

# tmpfs.
if [ -d /dev/shm ] && [ "$(fs_type /dev/shm)" = tmpfs ]; then
	make_tmpdir S /dev/shm fsx-test
	run_seeds "$S" tmpfs
else
	skip "tmpfs: /dev/shm is not a tmpfs"
fi

# A disk filesystem under /tmp.
type=$(fs_type "$T")
diag "/tmp is $type"
case $type in
tmpfs | ramfs) diag "/tmp is not a disk filesystem here; running there anyway" ;;
esac
run_seeds "$T" "/tmp ($type)"

# ramfs has no O_DIRECT and no fallocate: those are turned off with one note each
# and the O_DIRECT reads and writes fall back to buffered ones. Needs mount rights.
make_tmpdir R /tmp fsx-test
if mount -t ramfs fsx-test "$R" 2>/dev/null; then
	at_exit "umount '$R' 2>/dev/null || umount -l '$R' 2>/dev/null"
	SEEDS="5 6"
	run_seeds "$R" ramfs
	for what in "O_DIRECT" "fallocate PUNCH_HOLE" "fallocate ZERO_RANGE" "fallocate KEEP_SIZE"; do
		check "ramfs: one note turns $what off" \
			test "$(grep -c "note: $what not supported here" "$T/err")" = 1
	done
	run_fsx "$T/out" "$T/err" -d -N 300 -S 5 "$R/file"
	check "ramfs: O_DIRECT writes are done as buffered writes" \
		grep -q "^ *[0-9]* write .*\[for dio_write, turned off\]" "$T/out"
	umount "$R"
else
	skip "ramfs: cannot mount one here (needs privileges)"
fi

# Multi-process mode: three children on file.0 .. file.2 with seeds 10 .. 12.
run_fsx "$T/out" "$T/err" -q -p 3 -N 2000 -S 10 "$T/mp"
ok $rc "-p 3: exit 0"
[ $rc = 0 ] || show_file "$T/out" 40
check "-p 3: the parent says all 3 passed" grep -q "all 3 processes passed" "$T/out"
n=0
for k in 0 1 2; do
	grep -q "^\[$k\] foliofs-fsx: $T/mp.$k: 2000 ops passed, seed $((10 + k)) " "$T/out" &&
		[ -f "$T/mp.$k" ] && n=$((n + 1))
done
ok $((3 - n)) "-p 3: each child K ran on mp.K with seed 10+K and passed"

# Child K runs alone the same way: -S 11 on mp.1 gives the same summary.
grep "^\[1\] .* ops passed" "$T/out" | sed 's/^\[1\] //' >"$T/want"
run_fsx "$T/alone" "$T/err" -q -N 2000 -S 11 "$T/mp.1"
check "-p 3: child 1 replays alone with -S 11 on mp.1" cmp -s "$T/want" "$T/alone"

# --exec with -p: the command runs once a round, in the parent, while every
# child has its file closed; $FSX_FILE is the base name.
run_fsx "$T/out" "$T/err" -q -p 3 -N 60 -S 10 --exec-every 20 \
	--exec 'echo "$FSX_OP $FSX_FILE" >>"$FSX_FILE.rounds"' "$T/mp"
ok $rc "-p 3 with --exec every 20 of 60 ops: exit 0"
printf '20 %s\n40 %s\n60 %s\n' "$T/mp" "$T/mp" "$T/mp" >"$T/want"
check "-p 3 with --exec: the command ran once a round, with FILE" cmp -s "$T/want" "$T/mp.rounds"

# A failing child is named and fails the parent: the command damages child
# 1's file only, after op 20.
run_fsx "$T/out" "$T/err" -q -p 3 -N 40 -S 10 --exec-every 20 \
	--exec '[ "$FSX_OP" = 20 ] || exit 0; printf "\377\377" |
		dd of="$FSX_FILE.1" bs=1 seek=3 count=2 conv=notrunc 2>/dev/null' "$T/mp"
ok $([ $rc = 1 ] && echo 0 || echo 1) "-p 3 with child 1's file damaged: parent exits 1 (got $rc)"
check "-p 3 with child 1's file damaged: child 1 reports it after op 20" \
	grep -q "^\[1\] foliofs-fsx: FAIL after op 20 " "$T/out"
check "-p 3 with child 1's file damaged: the parent names process 1" \
	grep -q "process 1 ($T/mp.1, seed 11) failed: exit status 1" "$T/out"
check "-p 3 with child 1's file damaged: processes 0 and 2 are not named" \
	sh -c "! grep -q 'process [02] ' '$T/out'"

# A failing command stops every child with status 2.
run_fsx "$T/out" "$T/err" -q -p 3 -N 40 -S 10 --exec-every 20 --exec 'exit 3' "$T/mp"
ok $([ $rc = 2 ] && echo 0 || echo 1) "-p 3 with a failing --exec: parent exits 2 (got $rc)"
check "-p 3 with a failing --exec: one message names the op and status" \
	test "$(grep -c 'exec command failed after op 20 (exit status 3)' "$T/err")" = 1

done_testing
