#!/bin/sh
# tests/fsx/fsx-corrupt.sh - foliofs-fsx catches corruption made behind its back
# by an --exec command: it exits 1, prints a hexdump at the right offset, decodes
# a misplaced block, and leaves .fsxgood/.fsxbad copies that differ exactly where
# the file was changed. A failing --exec command stops the run with status 2.
. "$top_srcdir/tests/fsx/lib.sh"

# Flip one byte in the middle of $FSX_FILE after op 50; note the offset.
cat >"$T/flip.sh" <<'EOS'
[ "$FSX_OP" = 50 ] || exit 0
size=$(stat -c %s "$FSX_FILE")
[ "$size" -gt 0 ] || exit 0
off=$((size / 2))
b=$(od -An -tu1 -j "$off" -N1 "$FSX_FILE" | tr -d ' ')
nb=$(((b + 0x5a) % 256))
printf "$(printf '\\%03o' "$nb")" |
	dd of="$FSX_FILE" bs=1 seek="$off" count=1 conv=notrunc 2>/dev/null || exit 1
echo "$off" >"$FSX_FILE.flipped"
EOS

mkdir "$T/save"
run_fsx "$T/out" "$T/err" -N 500 -S 7 --exec "sh $T/flip.sh" --exec-every 10 -P "$T/save" \
	"$T/file"
ok $([ $rc = 1 ] && echo 0 || echo 1) "flipped byte: exit status 1 (got $rc)"
off=$(cat "$T/file.flipped" 2>/dev/null)
ok $([ -n "$off" ] && echo 0 || echo 1) "flipped byte: the command flipped offset ${off:-none}"
hex=$(printf '%x' "${off:-0}")
check "flipped byte: the report names the op and the first difference" \
	grep -q "FAIL after op 50 .*first difference at offset 0x$hex " "$T/out"
row=$(printf '0x%08x' $((${off:-0} / 16 * 16)))
check "flipped byte: the hexdump marks row $row" grep -q "^\* $row " "$T/out"
check "flipped byte: the report lists the last operations" \
	grep -q "^      50 [a-z_]" "$T/out"
nops=$(sed -n '/^last [0-9]* operations/,/^model saved/p' "$T/out" | grep -c '^ *[0-9][0-9]* [a-z]')
ok $([ "$nops" -ge 32 ] && echo 0 || echo 1) "flipped byte: at least 32 operations listed ($nops)"
good=$T/save/file.fsxgood
bad=$T/save/file.fsxbad
check "flipped byte: .fsxgood and .fsxbad are in the -P directory" test -f "$good" -a -f "$bad"
cmp -l "$good" "$bad" >"$T/cmp" 2>&1
ok $([ "$(wc -l <"$T/cmp")" = 1 ] && echo 0 || echo 1) "flipped byte: the copies differ in exactly one byte"
ok $([ "$(awk '{print $1 - 1}' "$T/cmp")" = "$off" ] && echo 0 || echo 1) \
	"flipped byte: and it is the flipped one"
check "flipped byte: .fsxgood is the size the file had" \
	test "$(stat -c %s "$good")" = "$(stat -c %s "$T/file")"

# Copy 64 bytes of the file 4 KiB further on: the report decodes a misplaced row.
# Only writes and reads, so the file is made of whole rows of the pattern.
run_fsx "$T/out" "$T/err" -N 60 -S 11 -l 64k -o 16k -R -W -T -F -C -Z -y -c --exec-every 30 \
	--exec '[ "$FSX_OP" = 30 ] || exit 0;
		dd if="$FSX_FILE" of="$FSX_FILE" bs=64 skip=64 seek=128 count=1 conv=notrunc 2>/dev/null' \
	"$T/moved"
ok $([ $rc = 1 ] && echo 0 || echo 1) "moved block: exit status 1 (got $rc)"
check "moved block: the first difference is in the block" \
	grep -q "first difference at offset 0x20[0-3][0-9a-f] " "$T/out"
check "moved block: the actual row is decoded as data for offset 0x10.." \
	grep -q "actual   row 0x000020[0-3]0: op [0-9]*'s data for offset 0x10[0-3]0 (misplaced)" "$T/out"
[ $rc = 1 ] || show_file "$T/out" 40
check "moved block: the copies are left next to the file without -P" \
	test -f "$T/moved.fsxgood" -a -f "$T/moved.fsxbad"

# A failing --exec command stops the run with status 2 and a message.
run_fsx "$T/out" "$T/err" -N 100 -S 3 --exec 'exit 7' --exec-every 25 "$T/cmdfail"
ok $([ $rc = 2 ] && echo 0 || echo 1) "failing --exec: exit status 2 (got $rc)"
check "failing --exec: the message gives the op and the status" \
	grep -q "exec command failed after op 25 (exit status 7)" "$T/err"
check "failing --exec: no summary" sh -c "! grep -q 'ops passed' '$T/out'"

# An --exec that only drops the file's cached pages keeps the run passing.
run_fsx "$T/out" "$T/err" -q -N 300 -S 9 --exec-every 50 \
	--exec 'test -f "$FSX_FILE" && dd if="$FSX_FILE" iflag=nocache count=0 2>/dev/null' "$T/ok"
ok $rc "harmless --exec every 50 ops: exit 0"

done_testing
