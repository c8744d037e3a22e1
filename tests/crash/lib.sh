# shellcheck shell=bash disable=SC2034
# tests/crash/lib.sh - what the crash tests share beyond tests/lib (sourced):
# the TAP vocabulary, $T and the exit path of tests/lib/mount.sh, the
# preconditions (root, /dev/fuse, fusermount3, python3; skip without), and
#   CRASH_EXPECT_JOURNAL  "yes" (the default): every crash state that fails
#                         fails the test. "no" reports a failing state as
#                         TODO, counted but not failing the test: for looking
#                         at images made without a journal (mkfs -J none),
#                         where a crash leaves metadata in any order.
#   $CRASH_PY             python3 with tests/lib and tests/crash importable
#   crash_py SCRIPT ARGS...  sub_tap the script (its lines numbered here)
#   crash_totals FILE...  add up the CRASH-TALLY lines (crashlib.Tally.record(),
#                         appended to $CRASH_TALLY_FILE) of the given files
# The Python side (tests/crash/crashlib.py) stops every daemon it started
# and unmounts what it mounted; the exit path here also lazily unmounts
# anything still mounted under $T (mounts under our own directory only).

: "${CRASH_EXPECT_JOURNAL:=yes}"
export CRASH_EXPECT_JOURNAL

# shellcheck source=tests/lib/mount.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/mount.sh"

crash_need_mounts() {
	[ "$(id -u)" = 0 ] || skip_all "crash tests need root"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
	for f in "$FOLIOFS" "$MKFS" "$FSCK" "$CTL" "$builddir/tools/foliofs-crash" \
		"$builddir/tools/foliofs-fsx"; do
		[ -x "$f" ] || bail "$f is not built"
	done
}

command -v python3 >/dev/null || skip_all "python3 is not installed"
CRASH_PY="env PYTHONPATH=$srcdir/tests/lib:$srcdir/tests/crash PYTHONDONTWRITEBYTECODE=1 python3 -u"

crash_drop_mounts() {
	local mp
	[ -n "${T:-}" ] || return 0
	# shellcheck disable=SC2013
	for mp in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts); do
		fusermount3 -u "$mp" 2>/dev/null || fusermount3 -u -z "$mp" 2>/dev/null
	done
}

crash_tmpdir() {
	mt_tmpdir "${TMPDIR:-/tmp}" "$1"
	at_exit crash_drop_mounts
}

crash_py() {
	# shellcheck disable=SC2086
	sub_tap $CRASH_PY "$@"
}

crash_totals() {
	awk '/CRASH-TALLY/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } }
		END { printf "crash states %d, failed %d, mount failures %d, states with fsck problems %d, with content problems %d, lost durable bytes %d\n",
			sum["states"], sum["failed"], sum["mount"], sum["fsck"], sum["content"], sum["lost"] }' "$@"
}
