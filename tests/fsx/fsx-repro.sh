#!/bin/sh
# tests/fsx/fsx-repro.sh - a seed and a set of options replay exactly the same
# operations: two -d runs with one seed give identical logs, a seed picked at
# random (-S 0) is printed and replays, and other seeds or options differ.
. "$top_srcdir/tests/fsx/lib.sh"

N=1500

run_fsx "$T/log1" "$T/err1" -d -N $N -S 42 "$T/file"
ok $rc "-d -S 42: first run exits 0"
run_fsx "$T/log2" "$T/err2" -d -N $N -S 42 "$T/file"
ok $rc "-d -S 42: second run exits 0"
check "-d -S 42: the two operation logs are identical" cmp -s "$T/log1" "$T/log2"
ops=$(grep -c '^ *[0-9][0-9]* [a-z_]' "$T/log1")
ok $([ "$ops" = $N ] && echo 0 || echo 1) "-d prints one line per operation ($ops of $N)"
check "-d lines give offset, length and size" \
	grep -q '^ *[0-9]* write  *0x[0-9a-f]* \.\. 0x[0-9a-f]* (0x[0-9a-f]* bytes) size 0x' "$T/log1"

run_fsx "$T/log3" "$T/err3" -d -N $N -S 43 "$T/file"
check "-d -S 43 gives a different log" sh -c "! cmp -s '$T/log1' '$T/log3'"

# Same seed, other options: the log changes, and replays too.
run_fsx "$T/log4" "$T/err4" -d -N $N -S 42 -W -l 100000 "$T/file"
run_fsx "$T/log5" "$T/err5" -d -N $N -S 42 -W -l 100000 "$T/file"
check "-S 42 -W -l 100000 replays identically" cmp -s "$T/log4" "$T/log5"
check "-S 42 -W -l 100000 differs from -S 42" sh -c "! cmp -s '$T/log1' '$T/log4'"

# -S 0 picks a seed, prints it, and that seed replays the run.
run_fsx "$T/log6" "$T/err6" -d -N 300 -S 0 "$T/file"
seed=$(sed -n 's/.* ops passed, seed \([0-9]*\) .*/\1/p' "$T/log6")
ok $([ -n "$seed" ] && [ "$seed" != 0 ] && echo 0 || echo 1) "-S 0 prints the seed it picked ($seed)"
run_fsx "$T/log7" "$T/err7" -d -N 300 -S "${seed:-1}" "$T/file"
check "the printed seed replays the -S 0 run" cmp -s "$T/log6" "$T/log7"

done_testing
