# shellcheck shell=sh disable=SC2034,SC2059
# tests/tools/lib.sh - helpers for the mkfs.foliofs / fsck.foliofs shell tests
# (sourced, not run). Prints TAP: ok/not ok lines, then done_testing prints
# the plan and sets the exit status. Every test works in its own temporary
# directory, removed by a trap on every exit path.

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
MKFS=$builddir/tools/mkfs.foliofs
FSCK=$builddir/tools/fsck.foliofs
tap_n=0
tap_failed=0

TMP=$(mktemp -d "${TMPDIR:-/tmp}/foliofs-tools.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

if [ ! -x "$MKFS" ] || [ ! -x "$FSCK" ]; then
	echo "Bail out! $MKFS or $FSCK is not built"
	exit 1
fi

# ok COND-STATUS DESCRIPTION: one TAP line from an exit status (0 = pass).
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got '$1', want '$2'"
	fi
}

# like TEXT REGEX DESCRIPTION (extended regex, grep -E)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "$1" | sed 's/^/#   /'
		echo "#   does not match /$2/"
	fi
}

diag() {
	echo "# $*"
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

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
