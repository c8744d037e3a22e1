#!/bin/sh
# tests/fsx/fsx-options.sh - foliofs-fsx's command line: bad options exit 2 with a
# one-line message, --help lists every option, each "off" flag keeps its
# operations out of the run, and --mark/--mark-dir mark and record every
# operation and sync.
. "$top_srcdir/tests/fsx/lib.sh"

# bad DESC ARGS...: exit 2, exactly one line on stderr, nothing on stdout.
bad() {
	desc=$1
	shift
	run_fsx "$T/out" "$T/err" "$@"
	lines=$(wc -l <"$T/err")
	if [ $rc = 2 ] && [ "$lines" = 1 ] && [ ! -s "$T/out" ] &&
		grep -q '^foliofs-fsx: ' "$T/err"; then
		ok 0 "$desc: exit 2, one line: $(cat "$T/err")"
	else
		ok 1 "$desc: exit $rc, $lines lines on stderr"
		show_file "$T/err" 40
	fi
}

bad "-N abc" -N abc "$T/f"
bad "-N 12x" -N 12x "$T/f"
bad "-N -5" -N -5 "$T/f"
bad "-S -1" -S -1 "$T/f"
bad "-S 99999999999999999999999" -S 99999999999999999999999 "$T/f"
bad "-l 0" -l 0 "$T/f"
bad "-l 4g (over 1 GiB)" -l 4g "$T/f"
bad "-l 10q" -l 10q "$T/f"
bad "-o 0" -o 0 "$T/f"
bad "-p 0" -p 0 "$T/f"
bad "-p 1000" -p 1000 "$T/f"
bad "--exec-every 0" --exec true --exec-every 0 "$T/f"
bad "--exec-every without --exec" --exec-every 5 "$T/f"
bad "-P not a directory" -P "$T/nonexistent" "$T/f"
bad "--mark-dir not a directory" --mark true --mark-dir "$T/nonexistent" "$T/f"
bad "--mark-dir without --mark" --mark-dir "$T" "$T/f"
bad "--mark with -p 2" --mark true -p 2 "$T/f"
bad "unknown short option" -X "$T/f"
bad "-x with an unknown operation" -x read,bogus "$T/f"
bad "-x turning every operation off" \
	-x read,write,mapread,mapwrite,truncate,falloc,falloc_keep,punch_hole,zero_range \
	-x copy_range,fsync,fdatasync,reopen,dio_read,dio_write "$T/f"
bad "unknown long option" --bogus "$T/f"
bad "-N without a value" "$T/f" -N
bad "--seed without a value" "$T/f" --seed
bad "no FILE" -N 10
bad "two FILEs" "$T/f" "$T/g"
check "nothing was created by the bad command lines" test ! -e "$T/f"
run_fsx "$T/out" "$T/err" -N abc "$T/f"
check "the message names the option and the value" grep -q -- "-N: 'abc' is not a number" "$T/err"

run_fsx "$T/out" "$T/err" --help
ok $rc "--help exits 0"
missing=""
for o in -N -S -l -o -q -d -P -p -x --off -R -W -T -F -H -z -k -C -Z -y -c --ops --seed --max-length \
	--max-op-size --quiet --debug --save-dir --processes --no-mapread --no-mapwrite \
	--no-truncate --no-fallocate --no-punch-hole --no-zero-range --no-keep-size \
	--no-copy-range --no-direct --no-fsync --no-reopen --exec --exec-every --mark --mark-dir \
	--help; do
	grep -q -- "$o[ ,]" "$T/out" || missing="$missing $o"
done
ok $([ -z "$missing" ] && echo 0 || echo 1) "--help lists every option${missing:+ (missing:$missing)}"

# off FLAGS OPS...: with FLAGS, no operation line of -d names OPS.
off() {
	flags=$1
	shift
	run_fsx "$T/out" "$T/err" -d -N 1500 -S 21 $flags "$T/f"
	found=""
	for op in "$@"; do
		grep -q "^ *[0-9]* $op " "$T/out" && found="$found $op"
	done
	ok $([ $rc = 0 ] && [ -z "$found" ] && echo 0 || echo 1) \
		"$flags: exit $rc, none of: $*${found:+ (found:$found)}"
}

run_fsx "$T/all" "$T/err" -d -N 1500 -S 21 "$T/f"
ok $rc "-S 21 with every operation: exit 0"
off "-R" mapread
off "-W" mapwrite
off "-T" truncate
off "-F" falloc falloc_keep punch_hole zero_range
off "-H" punch_hole
off "-z" zero_range
off "-k" falloc_keep
off "-C" copy_range
off "-Z" dio_read dio_write
off "-y" fsync fdatasync
off "-c" reopen
off "--no-mapread --no-mapwrite --no-truncate --no-fallocate --no-copy-range --no-direct --no-fsync --no-reopen" \
	mapread mapwrite truncate falloc falloc_keep punch_hole zero_range copy_range dio_read \
	dio_write fsync fdatasync reopen
off "--no-punch-hole --no-zero-range --no-keep-size" punch_hole zero_range falloc_keep
off "-x read,dio_read" read dio_read
off "--off falloc,fdatasync -x write" falloc fdatasync write
run_fsx "$T/out" "$T/err" -d -N 1500 -S 21 -x fsync "$T/f"
check "-x fsync leaves fdatasync on" grep -q "^ *[0-9]* fdatasync " "$T/out"
run_fsx "$T/out" "$T/err" -d -N 1500 -S 21 -k "$T/f"
check "-k: no keep_size variant at all" sh -c "! grep -q keep_size '$T/out'"
check "without -k the keep_size variants run" grep -q keep_size "$T/all"

run_fsx "$T/out" "$T/err" -q -N 200 -S 5 -l 8k -o 100k "$T/f"
ok $rc "-o larger than -l is clamped: exit 0"
check "-l 8k keeps the file at most 8192 bytes" test "$(stat -c %s "$T/f")" -le 8192
run_fsx "$T/out" "$T/err" -q -N 300 -S 5 -l 0x3000 "$T/f"
ok $rc "-l 0x3000 (hex) is accepted"

# --mark and --mark-dir: a mark before each operation and after each sync,
# the model at each sync, each operation's range and bytes.
mkdir "$T/marks"
run_fsx "$T/out" "$T/err" -q -N 120 -S 8 -l 64k -x copy_range,zero_range \
	--mark 'echo "$FSX_MARK" >>"$FSX_FILE.marks"' --mark-dir "$T/marks" "$T/f"
ok $rc "--mark: the run passes"
is "$(head -n 2 "$T/f.marks" | tr '\n' /)" "fsx sync 0/fsx op 1/" \
	"--mark: \"fsx sync 0\" first, then \"fsx op 1\""
is "$(grep -c '^fsx op ' "$T/f.marks")" 120 "--mark: one \"fsx op N\" per operation"
nsync=$(grep -c '^fsx sync ' "$T/f.marks")
check "--mark: some syncs ($nsync)" test "$nsync" -gt 2
is "$(find "$T/marks" -name 'sync.*' | wc -l)" "$nsync" "--mark-dir: one sync.N per sync mark"
is "$(find "$T/marks" -name 'op.*' | wc -l)" 120 "--mark-dir: one op.N per operation"
last=$(grep '^fsx sync ' "$T/f.marks" | tail -n 1 | cut -d' ' -f3)
if ! command -v python3 >/dev/null; then
	skip "--mark-dir: the records rebuild the file (no python3)"
	done_testing
	exit
fi
python3 - "$T/marks" "$last" "$T/f" 120 >"$T/py.out" 2>&1 <<'PY'
import struct, sys
d, last, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cur = bytearray(open("%s/sync.%d" % (d, last), "rb").read())
for k in range(last + 1, n + 1):
    raw = open("%s/op.%d" % (d, k), "rb").read()
    lo, hi, size = struct.unpack("<QQQ", raw[:24])
    del cur[size:]
    cur.extend(bytes(size - len(cur)))
    cur[lo:lo + len(raw) - 24] = raw[24:]
sys.exit(0 if bytes(cur) == open(path, "rb").read() else 1)
PY
ok $? "--mark-dir: the last sync's copy with the later operations' records is the file"
show_file "$T/py.out" 5

done_testing
