#!/bin/bash
# tests/mount/ctlsock.sh - the control socket as a security boundary
# (daemon/ctl_sock.c, daemon/ctl_server.c, tools/ctl.c; docs/DESIGN.md,
# "Control socket"), with the other ends played by tests/mount/ctlsock.py:
#   - root's daemon: /run/foliofs/MAJOR:MINOR.sock, a socket of root's, mode
#     0666, in a root-owned 0755 directory; uid 65534 may read stats and get
#     keys, but not set or sync;
#   - directories the daemon refuses (another owner, writable by others, a
#     symbolic link, a parent writable by others; $FOLIOFS_CTL_DIR points it
#     there): it runs without a socket and says why; a socket uid 65534 plants
#     there is refused by foliofs-ctl (exit 3) before anything is sent;
#   - a server on the right path that is not the daemon: one running as uid
#     65534 behind a root-owned file (SO_PEERCRED), one that names another pid
#     or device in its hello: exit 3, nothing sent; the same server as root
#     with a true hello is taken (so the refusals above come from the checks);
#   - silent clients: stats and sync answer while one holds a connection open;
#     uid 65534 holding its 8 connections is refused a 9th (exit 1) while
#     root's stats still answers; a silent connection is closed unanswered;
#   - kill -9: the stale file stays; a new mount on the same device number
#     replaces it; a new mount whose old daemon is stopped but still listening
#     (SIGSTOP) does not replace it, and takes the name once the old one exits;
#   - a mount by uid 65534 (fusermount3): its socket in
#     /run/user/65534/foliofs (0700), reached by 65534 and by root, not by
#     65533; $XDG_RUNTIME_DIR without the directory: no socket.
# Each clean unmount removes the daemon's socket file; fsck clean at the end.
# /dev/fuse gets an ACL entry for uid 65534 when it needs one, and
# /run/user/65534 is made when missing (mt_user_fuse); both are undone on
# every exit path.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"
[ -x "$CTL" ] || bail "$CTL is not built"

NOBODY=65534
as_uid() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
pyrun() {
	env PYTHONPATH="$PYDIR" "$PY" -u "$PYDIR/ctlsock.py" "$@"
}
# dev_of MOUNTPOINT: MAJOR:MINOR of the newest mount there.
dev_of() {
	awk -v m="$1" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo
}
# wait_file FILE PATTERN: up to 30 s for a line matching PATTERN.
# ctl_wait MP: until the daemon of MP answers on its control socket (it makes
# the socket after the mount shows), at most 30 s.
ctl_wait() {
	for ((i = 0; i < 300; i++)); do
		"$CTL" "$1" get pid >/dev/null 2>&1 && return
		sleep 0.1
	done
}

wait_file() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_impostor PATH UID HELLO [RUNAS]: tests/mount/ctlsock.py impostor, as root
# or as RUNAS (setpriv); sets $imp_pid and $imp_log (the requests it got).
imp_n=0
start_impostor() {
	local -a pre=()
	imp_n=$((imp_n + 1))
	imp_log=$T/imp.$imp_n.log
	: >"$imp_log"
	chmod 666 "$imp_log"
	[ -n "${4:-}" ] && pre=(setpriv --reuid="$4" --regid="$4" --clear-groups)
	CTL_DEV=$dev "${pre[@]}" env PYTHONPATH="$PYDIR" "$PY" -u "$PYDIR/ctlsock.py" impostor \
		"$1" "$2" "$3" "$imp_log" >"$imp_log.err" 2>&1 &
	imp_pid=$!
	mt_helpers="$mt_helpers $imp_pid"
	wait_file "$imp_log" ready || { diag "impostor did not start:"; show_file "$imp_log.err"; }
}
stop_impostor() {
	kill "$imp_pid" 2>/dev/null
	wait "$imp_pid" 2>/dev/null
	mt_forget_pid "$imp_pid"
}
# nothing_sent DESC: the impostor got no request.
nothing_sent() {
	if grep "^got" "$imp_log" | grep -qv "^got b''\$"; then
		ok 1 "$1"
		show_file "$imp_log"
	else
		ok 0 "$1"
	fi
}

# ---- root's daemon: where its socket is and who may do what ----
img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 32M
mt_mount_ok "$img" "$mp" "mount -o allow_other" -o allow_other || bail "cannot mount"
ctl_wait "$mp"
dev=$(dev_of "$mp")
sock=/run/foliofs/$dev.sock
ok "$([ -S "$sock" ]; echo $?)" "the socket is $sock"
is "$(stat -c '%u %a' "$sock")" "0 666" "  root's, mode 0666"
is "$(stat -c '%F %u %a' /run/foliofs)" "directory 0 755" \
	"/run/foliofs: a directory (not a link), root's, mode 0755"
is "$("$CTL" "$mp" get pid)" "$(mt_pid "$mp")" "foliofs-ctl reaches the daemon"

run as_uid $NOBODY "$CTL" "$mp" stats
ok "$([ "$rc" = 0 ] && [[ $out == *nr_dirty* ]]; echo $?)" "uid 65534: stats"
run as_uid $NOBODY "$CTL" "$mp" get mountpoint
is "$rc:$out" "0:$mp" "uid 65534: get mountpoint"
run as_uid $NOBODY "$CTL" "$mp" get image
is "$rc:$out" "0:$img" "uid 65534: get image (as public as /proc/mounts)"
run as_uid $NOBODY "$CTL" "$mp" set cache_size=32M
is "$rc" 1 "uid 65534: set: exit 1"
like "$out" "permission denied" "  permission denied"
run as_uid $NOBODY "$CTL" "$mp" sync
is "$rc" 1 "uid 65534: sync: exit 1"

# ---- directories the daemon refuses, and what foliofs-ctl makes of them ----
# bad_dir DESC DIR SOCKDIR EXPECT PLANTER: a mount whose daemon is told to use DIR;
# it must say EXPECT and make no socket (in SOCKDIR: DIR or where it leads); then a
# socket PLANTER (a uid) puts in SOCKDIR is refused by foliofs-ctl.
bimg=$T/bimg
bmp=$T/bmnt
mt_mkfs "$bimg" 4096 16M
bad_dir() {
	local desc=$1 dir=$2 sdir=$3 expect=$4 planter=$5 blog=$T/bad.$imp_n.log
	if ! mt_start "$bmp" "$blog" env FOLIOFS_CTL_DIR="$dir" "$FOLIOFS" "$bimg" "$bmp" -f; then
		ok 1 "$desc: mount"
		return
	fi
	wait_file "$blog" "control socket:"
	like "$(cat "$blog")" "control socket: .*$expect" "$desc: the daemon refuses it: $expect"
	is "$(find "$sdir" -name '*.sock*' | wc -l)" 0 "  and makes no socket there"
	echo data >"$bmp/f" && is "$(cat "$bmp/f")" data "  the mount works without it"
	dev=$(dev_of "$bmp")
	if [ "$planter" = 0 ]; then
		start_impostor "$sdir/$dev.sock" 0 true
	else
		start_impostor "$sdir/$dev.sock" 0 true "$planter"
	fi
	run env FOLIOFS_CTL_DIR="$dir" "$CTL" "$bmp" sync
	is "$rc" 3 "  foliofs-ctl refuses a socket uid $planter puts there: exit 3"
	like "$out" "refusing" "  says it refuses"
	nothing_sent "  and sends nothing"
	stop_impostor
	mt_umount_ok "$bmp" "  unmounted"
}
mkdir -m 0755 "$T/own" "$T/wr" "$T/target" "$T/pw"
chown $NOBODY:$NOBODY "$T/own"
bad_dir "a directory of uid 65534" "$T/own" "$T/own" "is owned by uid 65534" $NOBODY
chmod 0777 "$T/wr"
bad_dir "a root directory of mode 0777" "$T/wr" "$T/wr" "writable by group or others" $NOBODY
ln -s "$T/target" "$T/link"
bad_dir "a symbolic link to a good directory" "$T/link" "$T/target" "is a symbolic link" 0
chmod 0777 "$T/pw"
mkdir -m 0755 "$T/pw/d"
bad_dir "a good directory in one writable by others" "$T/pw/d" "$T/pw/d" \
	"holding .* is writable by others" 0

# ---- a server that is not the mount's daemon (FOLIOFS_CTL_DIR: a good directory) ----
mkdir -m 0755 "$T/rdir"
dev=$(dev_of "$mp")
fake=$T/rdir/$dev.sock
start_impostor "$fake" $NOBODY true
is "$(stat -c '%u %F' "$fake")" "0 socket" "impostor: a root-owned socket, listening as uid 65534"
run env FOLIOFS_CTL_DIR="$T/rdir" "$CTL" "$mp" sync
is "$rc" 3 "foliofs-ctl refuses a server of another uid (SO_PEERCRED): exit 3"
like "$out" "runs as uid 65534, but .* belongs to uid 0" "  and says who it is"
nothing_sent "  nothing was sent to it"
stop_impostor
for h in pid1 dev; do
	start_impostor "$fake" 0 "$h"
	run env FOLIOFS_CTL_DIR="$T/rdir" "$CTL" "$mp" sync
	is "$rc" 3 "a root server whose hello names another ${h/1/}: exit 3"
	like "$out" "not the daemon of device $dev" "  says so"
	nothing_sent "  nothing was sent to it"
	stop_impostor
done
start_impostor "$fake" 0 true
run env FOLIOFS_CTL_DIR="$T/rdir" "$CTL" "$mp" sync
is "$rc" 0 "control: the same server as root with a true hello is taken (root is the owner)"
ok "$(grep -q "^got b'sync\\\\n'" "$imp_log"; echo $?)" "  and got the request"
stop_impostor

# ---- clients that say nothing ----
py_tap -- "$PYDIR/ctlsock.py" silent "$sock" "$CTL" "$mp" 1
: >"$T/held"
chmod 666 "$T/held"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	env PYTHONPATH="$PYDIR" "$PY" -u "$PYDIR/ctlsock.py" hold "$sock" 8 "$T/held" &
hold_pid=$!
mt_helpers="$mt_helpers $hold_pid"
wait_file "$T/held" held
is "$(cat "$T/held")" held "uid 65534 holds 8 silent connections (its limit)"
run as_uid $NOBODY "$CTL" "$mp" stats
is "$rc" 1 "  its foliofs-ctl stats is refused: exit 1"
like "$out" "too many control connections" "  too many connections"
run "$CTL" "$mp" stats
is "$rc" 0 "  root's stats still answers"
kill "$hold_pid"
wait "$hold_pid" 2>/dev/null
mt_forget_pid "$hold_pid"
for ((i = 0; i < 100; i++)); do
	run as_uid $NOBODY "$CTL" "$mp" stats
	[ "$rc" = 0 ] && break
	sleep 0.1
done
is "$rc" 0 "  once they are closed, uid 65534's stats answers again"
py_tap -- "$PYDIR/ctlsock.py" timeout "$sock"

# ---- kill -9: a stale socket file, replaced on the same device number ----
ino=$(stat -c %i "$sock")
mt_kill "$mp"
is "$(stat -c %i "$sock")" "$ino" "kill -9: the socket file stays behind"
# mount_on_dev IMAGE MP DEV: mount, on device number DEV if it can be had. The
# kernel hands out the lowest free number, so tmpfs mounts fill the free ones below
# DEV first (and are unmounted after); 1 when the mount got another number (another
# mount on the machine took DEV first).
fill_n=0
fillers=""
unfill() {
	local f
	for f in $fillers; do
		umount "$f"
	done
	fillers=""
}
at_exit unfill
mount_on_dev() {
	local f d try
	for ((try = 0; try < 64; try++)); do
		fill_n=$((fill_n + 1))
		f=$T/fill.$fill_n
		mkdir "$f"
		mount -t tmpfs -o size=4k foliofs-test-fill "$f" || break
		d=$(dev_of "$f")
		if [ "$d" != "$3" ]; then
			fillers="$fillers $f"
			[ "${d#*:}" -gt "${3#*:}" ] && break
			continue
		fi
		umount "$f"
		mt_mount "$1" "$2" || break
		d=$(dev_of "$2")
		if [ "$d" = "$3" ]; then
			unfill
			return 0
		fi
		# another mount gave up a lower number meanwhile: fill it too
		[ "${d#*:}" -gt "${3#*:}" ] && break
		mt_umount "$2"
	done
	diag "wanted $3, got $d after $try tries; $3 is now held by:" \
		"$(awk -v d="$3" '$3 == d { print $5 }' /proc/self/mountinfo)"
	unfill
	is_mounted "$2" || mt_mount "$1" "$2"
	return 1
}

if mount_on_dev "$img" "$mp" "$dev"; then
	for ((i = 0; i < 100; i++)); do
		[ "$(stat -c %i "$sock" 2>/dev/null)" != "$ino" ] && break
		sleep 0.1
	done
	is "$("$CTL" "$mp" get pid)" "$(mt_pid "$mp")" \
		"mounted again on $dev: foliofs-ctl reaches the new daemon (the stale file replaced)"
	ok "$([ "$(stat -c %i "$sock")" != "$ino" ]; echo $?)" "  a new socket file"
else
	skip "another mount took $dev: stale file replacement not tested"
fi

# ---- an old daemon still listening is never replaced ----
# stopped_old DESC WAIT: stop the daemon of $mp, unmount it, mount $cimg on the
# same device number; WAIT=cont: let the old one go on at once, WAIT=long: only
# after the new one gave up on the name.
cimg=$T/cimg
cmp=$T/cmnt
mt_mkfs "$cimg" 4096 16M
stopped_old() {
	local desc=$1 old dev ino
	ctl_wait "$mp"
	dev=$(dev_of "$mp")
	old=$(mt_pid "$mp")
	ino=$(stat -c %i "/run/foliofs/$dev.sock")
	kill -STOP "$old"
	fusermount3 -u "$mp" || diag "fusermount3 -u $mp failed"
	if ! mount_on_dev "$cimg" "$cmp" "$dev"; then
		kill -CONT "$old"
		skip "$desc: another mount took $dev"
	elif [ "$2" = cont ]; then
		kill -CONT "$old"
		for ((i = 0; i < 300; i++)); do
			"$CTL" "$cmp" get pid >/dev/null 2>&1 && break
			sleep 0.1
		done
		is "$("$CTL" "$cmp" get pid)" "$(mt_pid "$cmp")" \
			"$desc: the new daemon takes the name once the old one lets go"
	else
		wait_file "$(mt_get log "$cmp")" "still answers"
		like "$(cat "$(mt_get log "$cmp")")" "control socket: .*another server still answers" \
			"$desc: the new daemon gives up on a name a live server holds"
		is "$(stat -c %i "/run/foliofs/$dev.sock")" "$ino" "  the old daemon's file is untouched"
		kill -CONT "$old"
	fi
	wait_pid_exit "$old" 60
	ok $? "$desc: the old daemon exits"
	wait "$old" 2>/dev/null
	mt_forget_mp "$mp"
	is_mounted "$cmp" && mt_umount_ok "$cmp" "$desc: the new mount unmounted"
	mt_mount "$img" "$mp"
}
stopped_old "old daemon stopped, continued at once" cont
stopped_old "old daemon stopped past the wait" long
ctl_wait "$mp"
sock=/run/foliofs/$(dev_of "$mp").sock
ino=$(stat -c %i "$sock")
ok "$([ -n "$ino" ]; echo $?)" "the remounted daemon's socket file is there"
mt_umount_ok "$mp" "unmounted"
ok "$([ "$(stat -c %i "$sock" 2>/dev/null)" != "$ino" ]; echo $?)" "  the socket file is gone"
mt_fsck_ok "$img" "fsck clean"

# ---- a mount by uid 65534 ----
mt_user_fuse $NOBODY
uimg=$T/uimg
ump=$T/umnt
mt_mkfs "$uimg" 4096 16M
mkdir "$ump"
chown $NOBODY:$NOBODY "$uimg" "$ump"
if mt_start "$ump" "$T/user.log" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	env -u XDG_RUNTIME_DIR "$FOLIOFS" "$uimg" "$ump" -f; then
	ok 0 "uid 65534 mounts with fusermount3"
	udev=$(dev_of "$ump")
	usock=/run/user/$NOBODY/foliofs/$udev.sock
	for ((i = 0; i < 300; i++)); do
		[ -S "$usock" ] && break
		sleep 0.1
	done
	ok "$([ -S "$usock" ]; echo $?)" "  its socket is $usock"
	is "$(stat -c '%u' "$usock")" $NOBODY "  owned by uid 65534"
	is "$(stat -c '%F %u %a' "/run/user/$NOBODY/foliofs")" "directory $NOBODY 700" \
		"  in a directory of uid 65534, mode 0700"
	run as_uid $NOBODY env -u XDG_RUNTIME_DIR "$CTL" "$ump" get pid
	is "$rc:$out" "0:$(mt_pid "$ump")" "uid 65534 reaches its daemon"
	run as_uid $NOBODY env XDG_RUNTIME_DIR=/run/user/$NOBODY "$CTL" "$ump" set cache_size=32M
	is "$rc" 0 "  and may change it (its own)"
	run "$CTL" "$ump" get image
	is "$rc:$out" "0:$uimg" "root reaches it (SO_PEERCRED uid 65534 = the mount's user_id)"
	run as_uid 65533 "$CTL" "$ump" stats
	is "$rc" 2 "uid 65533 cannot reach it (no allow_other): exit 2"
	mt_umount_ok "$ump" "uid 65534's mount unmounted"
	ok "$([ ! -e "$usock" ]; echo $?)" "  its socket file is gone"
else
	ok 1 "uid 65534 mounts with fusermount3"
fi
if mt_start "$ump" "$T/user2.log" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	env XDG_RUNTIME_DIR="$T/nowhere" "$FOLIOFS" "$uimg" "$ump" -f; then
	wait_file "$T/user2.log" "control socket:"
	like "$(cat "$T/user2.log")" "control socket: cannot create $T/nowhere/foliofs" \
		"XDG_RUNTIME_DIR that does not exist: no socket, and the daemon says why"
	mt_umount_ok "$ump" "  unmounted"
else
	ok 1 "uid 65534 mounts with XDG_RUNTIME_DIR=$T/nowhere"
fi
mt_fsck_ok "$uimg" "uid 65534's image: fsck clean"
done_testing
