#!/bin/bash
# tests/mount/perms-user.sh - a mount made by a user other than root
# (uid 65534, through the setuid fusermount3), who owns the image and the
# mountpoint: without user_allow_other in /etc/fuse.conf, -o allow_other is
# refused; with it, root and a third user (65533) reach the mount, the
# kernel still checks modes for them (default_permissions), the files they
# make belong to them, and the daemon's own user cannot pass another's 0600
# file. Without allow_other root is kept out. /etc/fuse.conf is changed
# under a lock (/run/lock/foliofs-fuse-conf.lock, so two runs never mix
# their copies) and restored byte for byte on every exit path; the test
# checks that it was. uid 65534 may open /dev/fuse for the test
# (mt_user_fuse). fsck clean.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is not installed"
command -v flock >/dev/null || skip_all "flock (util-linux) is not installed"
[ -u "$(command -v fusermount3)" ] || skip_all "fusermount3 is not setuid"

CONF=/etc/fuse.conf
USER_ID=65534
AS_USER=(setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups --)
AS_THIRD=(setpriv --reuid=65533 --regid=65533 --clear-groups --)
# libfuse opens /dev/fuse itself before it calls fusermount3: distributions
# make it 0666; where it is not, the user gets an ACL entry for the test.
mt_user_fuse $USER_ID
exec 9>/run/lock/foliofs-fuse-conf.lock
flock -w 300 9 || bail "cannot lock /run/lock/foliofs-fuse-conf.lock"
had_conf=0
if [ -e "$CONF" ]; then
	had_conf=1
	cp -p "$CONF" "$T/fuse.conf.orig" || bail "cannot save $CONF"
fi

# conf_restore: put /etc/fuse.conf back as it was (removed if there was none).
conf_restore() {
	if [ "$had_conf" = 1 ]; then
		cat "$T/fuse.conf.orig" >"$CONF"
	else
		rm -f "$CONF"
	fi
}
at_exit conf_restore


img=$T/img
mp=$T/mnt
mt_mkfs "$img" 4096 32M
# the user's own filesystem: its root directory belongs to the user
mt_mount_ok "$img" "$mp" "root prepares the image" || bail "cannot mount $img"
chown $USER_ID:$USER_ID "$mp"
mt_umount_ok "$mp" "root unmounts it" || bail "cannot unmount $mp"
chown $USER_ID:$USER_ID "$img" "$mp"

# Without user_allow_other: allow_other refused, a private mount works.
conf_restore
sed -i '/^[[:space:]]*user_allow_other[[:space:]]*$/d' "$CONF" 2>/dev/null || true
mt_start "$mp" "$T/daemon.0.log" "${AS_USER[@]}" "$FOLIOFS" "$img" "$mp" -f -o allow_other >/dev/null 2>&1
not_mounted "$mp"
ok $? "without user_allow_other a user's -o allow_other is refused"
grep -q "user_allow_other" "$T/daemon.0.log"
ok $? "and fusermount3 says why" || show_file "$T/daemon.0.log"

if mt_start "$mp" "$T/daemon.1.log" "${AS_USER[@]}" "$FOLIOFS" "$img" "$mp" -f; then
	ok 0 "a user mounts its own image without allow_other"
	run ls "$mp"
	ok "$((rc == 0))" "root is kept out of a user's private mount"
	"${AS_USER[@]}" sh -c "echo mine >'$mp/own' && chmod 600 '$mp/own'"
	ok $? "the user writes in its own mount"
	mt_umount_ok "$mp" "private mount: unmounted"
else
	ok 1 "a user mounts its own image without allow_other"
fi

# With user_allow_other.
echo user_allow_other >>"$CONF"
if mt_start "$mp" "$T/daemon.2.log" "${AS_USER[@]}" "$FOLIOFS" "$img" "$mp" -f -o allow_other; then
	ok 0 "with user_allow_other the user mounts -o allow_other"
	is "$(stat -c %U "/proc/$(mt_pid "$mp")")" "nobody" "the daemon runs as the user"
	is "$(cat "$mp/own")" "mine" "root reads through the user's mount"
	mkdir "$mp/rootdir" && echo r >"$mp/rootdir/f" && chmod 700 "$mp/rootdir"
	is "$(stat -c '%u %a' "$mp/rootdir")" "0 700" "root's directory belongs to root"
	run "${AS_USER[@]}" ls "$mp/rootdir"
	ok "$((rc == 0))" "the mounting user cannot list root's 0700 directory (default_permissions)"
	run "${AS_THIRD[@]}" cat "$mp/own"
	ok "$((rc == 0))" "a third user cannot read the mounter's 0600 file"
	"${AS_THIRD[@]}" sh -c "echo o >'$mp/o'" 2>/dev/null
	ok "$(($? == 0))" "nor create in the mounter's 0755 root directory"
	chmod 1777 "$mp"
	"${AS_THIRD[@]}" sh -c "echo o >'$mp/o'"
	is "$(stat -c %u "$mp/o")" 65533 "a third user's file in the sticky root is its own"
	run setpriv --reuid=65532 --regid=65532 --clear-groups -- rm -f "$mp/o"
	ok "$((rc == 0))" "a fourth user cannot remove it (sticky)"
	run "${AS_USER[@]}" rm -f "$mp/o"
	is "$rc" 0 "the mounter, owner of the sticky directory, can"
	mt_umount_ok "$mp" "allow_other mount: unmounted"
	mt_fsck_ok "$img" "fsck clean at the end"
else
	ok 1 "with user_allow_other the user mounts -o allow_other"
fi

conf_restore
if [ "$had_conf" = 1 ]; then
	cmp -s "$T/fuse.conf.orig" "$CONF"
	ok $? "/etc/fuse.conf is back as it was"
else
	[ ! -e "$CONF" ]
	ok $? "/etc/fuse.conf is gone again, as before"
fi
done_testing
