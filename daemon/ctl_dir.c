/*
 * daemon/ctl_dir.c - the rule for the control socket's directory, applied by the daemon
 * before it binds there (daemon/ctl_sock.c) and by foliofs-ctl before it connects
 * (tools/ctl.c). Linked into both, with the one helper both need to read
 * /proc/self/mountinfo.
 *
 * Interface (daemon/ctl_proto.h): ctl_dir_check, ctl_unescape.
 *
 * The rule: the directory is a real directory (not a symbolic link), owned by the uid
 * that serves the socket, and not writable by group or others; its parent is owned by
 * that uid or by root and is not writable by group or others unless it is sticky (so
 * nobody else can rename the directory away and put their own in its place). Then only
 * that uid (and root) can create, replace or remove a socket in it.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/ctl_proto.h"

/* The parent of @dir, for the check; "/" for "/x". */
static void ctl_dir_parent(const char *dir, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", dir);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	while (n > 0 && buf[n - 1] != '/')
		buf[--n] = '\0';
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (!n)
		snprintf(buf, size, ".");
}

static int ctl_dir_check_parent(const char *dir, uid_t uid, char *why, size_t whylen)
{
	char parent[PATH_MAX];
	struct stat st;

	ctl_dir_parent(dir, parent, sizeof(parent));
	if (stat(parent, &st)) {
		snprintf(why, whylen, "%s: %s", parent, strerror(errno));
		return -errno;
	}
	if (st.st_uid != uid && st.st_uid != 0) {
		snprintf(why, whylen, "%s (holding %s) is owned by uid %ld, not uid %ld or root",
			 parent, dir, (long)st.st_uid, (long)uid);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(why, whylen, "%s (holding %s) is writable by others (mode %04o)", parent,
			 dir, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/**
 * ctl_dir_check - may a control socket in this directory be trusted as @uid's?
 * @dir: the directory
 * @uid: the uid that must serve sockets there (the daemon's, the mount's owner)
 * @why: filled with one line saying why not
 * @whylen: its size
 *
 * Context: any thread.
 * Return: 0 when it may; -EPERM when the directory or its parent fails the rule (a
 * symbolic link, another owner, writable by others); another negative errno when it
 * cannot be looked at (-ENOENT: it does not exist).
 */
int ctl_dir_check(const char *dir, uid_t uid, char *why, size_t whylen)
{
	struct stat st;

	if (lstat(dir, &st)) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, whylen, "%s is a symbolic link", dir);
		return -EPERM;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s is not a directory", dir);
		return -EPERM;
	}
	if (st.st_uid != uid) {
		snprintf(why, whylen, "%s is owned by uid %ld, not uid %ld", dir, (long)st.st_uid,
			 (long)uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen, "%s is writable by group or others (mode %04o)", dir,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return ctl_dir_check_parent(dir, uid, why, whylen);
}

/**
 * ctl_unescape - undo the octal escapes of /proc/self/mountinfo in place
 * @s: a field of a mountinfo line (\040 for a space and friends)
 */
void ctl_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}
