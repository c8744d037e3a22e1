#!/bin/bash
# tests/fuzz/daemon.sh - a sample of the fuzzer's images through the real
# daemon on a FUSE mount: FUZZ_DAEMON_IMAGES (default 24) images, numbers
# FUZZ_FIRST, FUZZ_FIRST + 37, ... Each is mounted with $FUZZ_DAEMON (the
# sanitizer build of tests/fuzz/san, or the tree's daemon in a sanitizer
# build), every other one with -o errors=continue (the filesystem stays
# writable after a lie); a refused image must make the daemon exit non-zero, with a message
# and no signal; a mounted one is walked, read, written (also through mmap),
# changed (mkdir, create, rename, unlink, setxattr) through the kernel, every
# command under a timeout, then unmounted: the daemon must exit 0 without a
# sanitizer report. fsck.foliofs -n and -y follow, under a timeout too.
# Needs root, /dev/fuse and fusermount3; skips without.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lib/mount.sh
. "$srcdir/tests/lib/mount.sh"
FOLIOFS=$FUZZ_DAEMON
at_exit mt_cleanup

[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/fuse ] || skip_all "needs /dev/fuse"
command -v fusermount3 >/dev/null || skip_all "needs fusermount3"

n=${FUZZ_DAEMON_IMAGES:-24}
first=${FUZZ_FIRST:-0}
limit=${FUZZ_DAEMON_TIMEOUT:-60}
mp=$T/mnt
fuzz_seeds "$T/seeds"
refused=0 mounted=0 failed=0 cmd_fail=0 hung=0

# Commands through the mount; each may fail (the image lies), none may hang.
workload() {
	local c
	for c in \
		"find '$mp' -xdev -printf '%p %s %m\n'" \
		"find '$mp' -xdev -type f -size -2M -exec cat {} + " \
		"find '$mp' -xdev -type l -exec readlink {} +" \
		"getfattr -R -d -m - '$mp'" \
		"find '$mp' -xdev -maxdepth 2 -type f -exec sh -c 'echo fuzz >>\"\$1\"' _ {} \\;" \
		"mkdir '$mp/fz.d' && echo data >'$mp/fz.d/f' && mv '$mp/fz.d/f' '$mp/fz.d/g'" \
		"setfattr -n user.fz -v 1 '$mp/fz.d/g'" \
		"python3 -c 'import mmap,os,sys; fd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT); os.ftruncate(fd,8192); m=mmap.mmap(fd,8192); m[0:4]=b\"fzmm\"; m.flush(); m.close()' '$mp/fz.d/m'" \
		"find '$mp' -xdev -maxdepth 1 -name 'b*' -exec rm -rf {} +" \
		"sync"; do
		timeout -k 5 "$limit" sh -c "$c" >/dev/null 2>&1
		case $? in
		0) ;;
		124 | 137) hung=$((hung + 1)); diag "image $num: timed out: $c" ;;
		*) cmd_fail=$((cmd_fail + 1)) ;;
		esac
	done
}

# fsck with a timeout: exit 0..15 is an answer, anything else a failure.
fsck_ok() {
	timeout -k 5 "$limit" "$FUZZ_TOOLS/fsck.foliofs" "$1" "$T/img" >"$T/fsck.out" 2>&1
	local st=$?
	if [ $st -gt 15 ] || grep -qE "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$T/fsck.out"; then
		diag "image $num: fsck $1 exit $st"
		show_file "$T/fsck.out" 20
		return 1
	fi
}

for ((i = 0; i < n; i++)); do
	num=$((first + 37 * i))
	"$FUZZIMG" mutate "$T/seeds" "$num" "$T/img" >"$T/recipe" || bail "fuzzimg mutate $num"
	bad=0
	opts=cache_size=8M
	[ $((i % 2)) = 1 ] && opts=$opts,errors=continue
	mt_try_mount "$T/img" "$mp" -o "$opts" 2>/dev/null
	# mt_try_mount unmounts at once when it mounted: mount again to work on it
	if [ "$rc" = mounted ]; then
		if mt_mount "$T/img" "$mp" -o "$opts"; then
			mounted=$((mounted + 1))
			workload
			mt_umount "$mp" || bad=1
		else
			bad=1
		fi
	elif [ "$rc" = timeout ] || [ "$rc" -ge 128 ] || [ "$rc" = 0 ] ||
		grep -qE "runtime error:|ERROR: [A-Za-z]+Sanitizer" "$T/try.out"; then
		diag "image $num: the daemon neither mounted nor refused cleanly (status $rc)"
		show_file "$T/try.out" 20
		bad=1
	else
		refused=$((refused + 1))
		[ -n "$out" ] || { diag "image $num: refused without a message"; bad=1; }
	fi
	fsck_ok -n || bad=1
	fsck_ok -y || bad=1
	if [ $bad = 1 ]; then
		failed=$((failed + 1))
		sed 's/^/# /' "$T/recipe"
		[ -z "${FUZZ_KEEP:-}" ] || { mkdir -p "$FUZZ_KEEP" && "$FUZZIMG" mutate "$T/seeds" "$num" "$FUZZ_KEEP/daemon-$num.img" >/dev/null; }
	fi
done
diag "images $n: refused at mount $refused, mounted $mounted, commands failed $cmd_fail, timed out $hung"
is "$((refused + mounted + failed >= n))" 1 "$n images through the daemon"
is "$failed" 0 "no crash, hang or sanitizer report of the daemon or fsck"
is "$hung" 0 "no command on a mount timed out"
done_testing
