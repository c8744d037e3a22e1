# shellcheck shell=bash disable=SC2034
# tests/mount/lib.sh - what the mount scenarios share beyond tests/lib
# (sourced by tests/mount/*.sh, never run). Each scenario makes its images
# with tools/mkfs.foliofs in its own temporary directory, mounts them with
# daemon/foliofs, checks what it must, unmounts, and ends every image with a
# clean fsck.foliofs.
#
# Gives everything tests/lib/mount.sh does (the TAP vocabulary of
# tests/lib/tap.sh, mt_mkfs, mt_mount, mt_umount, mt_cycle, ...) with $T
# made and the exit path installed, after skipping the whole scenario (1..0)
# without root, /dev/fuse, fusermount3 or python3; and:
#   $PY $MT_SRC $MMAP_HELPER   the interpreter, tests/mount, the mmap helper
#   $PYDIR                a readable copy of tests/mount/*.py and tests/lib/tap.py
#                         (run scripts from here: "$PYDIR/ops.py")
#   py_tap [-u UID:GID] -- ARGS...  sub_tap python3 with lib.py importable,
#                         as UID:GID with no supplementary groups with -u

# shellcheck source=tests/lib/mount.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/mount.sh"

MMAP_HELPER=$builddir/tests/mount/mmap_helper
MT_SRC=$srcdir/tests/mount
# The system interpreter: other users must be able to run it too.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C
umask 022

[ "$(id -u)" = 0 ] || skip_all "mount scenarios need root"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
	skip_all "python3 is not installed"
fi
for f in "$FOLIOFS" "$MKFS" "$FSCK"; do
	[ -x "$f" ] || bail "$f is not built"
done

mt_tmpdir "${TMPDIR:-/tmp}" foliofs-mount
# The Python parts run from a copy other users can read (the source tree may
# sit in a private home directory).
PYDIR=$T/py
if ! { mkdir "$PYDIR" && cp "$MT_SRC"/*.py "$srcdir/tests/lib/tap.py" "$PYDIR"/ &&
	chmod -R a+rX "$PYDIR"; }; then
	bail "cannot copy the Python helpers"
fi

py_tap() {
	local user=""
	if [ "$1" = -u ]; then
		user=$2
		shift 2
	fi
	[ "$1" = -- ] && shift
	local -a cmd=(env "PYTHONPATH=$PYDIR" PYTHONDONTWRITEBYTECODE=1 "$PY" -u "$@")
	if [ -n "$user" ]; then
		cmd=(setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups "${cmd[@]}")
	fi
	sub_tap "${cmd[@]}"
}
