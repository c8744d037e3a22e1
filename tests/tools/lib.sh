# shellcheck shell=sh disable=SC2034
# tests/tools/lib.sh - what the mkfs.foliofs / fsck.foliofs shell tests share
# beyond tests/lib (sourced, not run): the TAP vocabulary of
# tests/lib/tap.sh and the helpers of tests/lib/util.sh (run, file_sum,
# flip_byte, put_bytes), $MKFS and $FSCK, and $TMP, the test's own temporary
# directory, removed on every exit path. Adds:
#   fsck_field IMAGE REGEX   the first number after REGEX in `fsck -v` output

builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
MKFS=$builddir/tools/mkfs.foliofs
FSCK=$builddir/tools/fsck.foliofs
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib/tap.sh
. "$srcdir/tests/lib/tap.sh"
# shellcheck source=tests/lib/util.sh
. "$srcdir/tests/lib/util.sh"

make_tmpdir TMP "${TMPDIR:-/tmp}" foliofs-tools

if [ ! -x "$MKFS" ] || [ ! -x "$FSCK" ]; then
	bail "$MKFS or $FSCK is not built"
fi

fsck_field() {
	"$FSCK" -v "$1" 2>/dev/null | sed -nE "s/.*$2 ([0-9]+).*/\\1/p" | head -n1
}
