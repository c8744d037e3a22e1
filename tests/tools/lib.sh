# shellcheck shell=sh disable=SC2034,SC2059
# tests/tools/lib.sh - helpers for the mkfs.foliofs / fsck.foliofs shell tests
# (sourced, not run). Prints TAP: ok/not ok lines, then done_testing prints
# the plan and sets the exit status. Every test works in its own temporary
# directory, removed by a trap on every exit path.

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
MKFS=$builddir/tools/mkfs.foliofs
FSCK=$builddir/tools/fsck.foliofs
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib/tap.sh
. "$srcdir/tests/lib/tap.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/foliofs-tools.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

if [ ! -x "$MKFS" ] || [ ! -x "$FSCK" ]; then
	echo "Bail out! $MKFS or $FSCK is not built"
	exit 1
fi

# run CMD...: sets $out (stdout+stderr) and $rc.
run() {
	out=$("$@" 2>&1)
	rc=$?
}

# flip_byte FILE OFFSET: invert every bit of one byte in place.
flip_byte() {
	old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	new=$((old ^ 255))
	printf "$(printf '\\%03o' "$new")" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# fsck_field IMAGE REGEX: the first number after REGEX in `fsck -v` output.
fsck_field() {
	"$FSCK" -v "$1" 2>/dev/null | sed -nE "s/.*$2 ([0-9]+).*/\\1/p" | head -n1
}

# sum FILE: content checksum.
sum() {
	cksum <"$1" | cut -d' ' -f1,2
}
