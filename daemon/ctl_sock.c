/*
 * daemon/ctl_sock.c - the control socket's file: where it lives, how the daemon claims
 * its name, and how it gives it up.
 *
 * Interface (daemon/daemon.h): ctl_sock_open, ctl_sock_close.
 *
 * Where: a directory only the daemon's user can write (the rule is ctl_dir_check in
 * daemon/ctl_dir.c): CTL_RUN_DIR (/run/foliofs, mode 0755, created when missing) for a
 * daemon run by root; "$XDG_RUNTIME_DIR/foliofs", else /run/user/UID/foliofs (mode
 * 0700, created when missing; the runtime directory itself must exist) for any other
 * user; the directory named by $FOLIOFS_CTL_DIR when that is set (tests). A directory
 * that fails the rule is not used: the daemon runs without a control socket and says
 * why. The file is MAJOR:MINOR.sock after the mount's device number, mode 0666 (the
 * directory decides who reaches it).
 *
 * Claiming the name: the kernel hands a device number to the next mount as soon as a
 * mount goes away, so the name may be taken by (a) the daemon of a mount that just
 * went away, still writing back, which lets go of it within moments (it unlinks the
 * file at exit), or (b) a daemon killed without the chance to unlink it: a stale file
 * nobody listens on (connect fails with ECONNREFUSED). The new daemon listens on a
 * private name first (".MAJOR:MINOR.sock.PID"), then renames it over the name once
 * the name is free or stale; while a server still answers on it, it waits
 * (CTL_BIND_TRIES times CTL_BIND_WAIT_MS) and then gives up: a live socket is never
 * replaced. rename() is atomic, so a client finds either the old file or the new one.
 *
 * Giving it up (ctl_sock_close): the file is unlinked only if it is still the one this
 * daemon made (same inode), and before the listening socket is closed: while it
 * listens no other daemon replaces the file, so the check cannot race with one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/daemon.h"

#define CTL_BACKLOG	 64
#define CTL_BIND_TRIES	 100
#define CTL_BIND_WAIT_MS 100

/* The directory for this daemon's socket in @buf, created when missing (its parent is
 * not); one line in @why when it cannot be used. */
static int ctl_sock_dir(char *buf, size_t size, char *why, size_t whylen)
{
	const char *env = getenv(CTL_DIR_ENV), *xdg = getenv("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	mode_t mode = uid == 0 ? 0755 : 0700;
	int n;

	if (env && *env)
		n = snprintf(buf, size, "%s", env);
	else if (uid == 0)
		n = snprintf(buf, size, "%s", CTL_RUN_DIR);
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/foliofs", xdg);
	else
		n = snprintf(buf, size, CTL_USER_DIR_FMT, (unsigned)uid);
	if (n < 0 || (size_t)n >= size) {
		snprintf(why, whylen, "the socket directory's name is too long");
		return -ENAMETOOLONG;
	}
	if (!mkdir(buf, mode)) {
		if (chmod(buf, mode)) { /* the umask may have taken bits away */
			snprintf(why, whylen, "chmod %s: %s", buf, strerror(errno));
			return -errno;
		}
	} else if (errno != EEXIST) {
		snprintf(why, whylen, "cannot create %s: %s", buf, strerror(errno));
		return -errno;
	}
	return ctl_dir_check(buf, uid, why, whylen);
}

static int ctl_sock_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* A listening socket on the private name @tmp (any leftover there is removed: the
 * directory is ours). */
static int ctl_sock_listen_tmp(const char *tmp)
{
	struct sockaddr_un sa;
	int err, fd;

	err = ctl_sock_addr(&sa, tmp);
	if (err)
		return err;
	if (unlink(tmp) && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	if (chmod(tmp, 0666) || listen(fd, CTL_BACKLOG)) {
		err = -errno;
		unlink(tmp);
		close(fd);
		return err;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* Does a server answer on @path? 0: no (nothing there, not a socket, or a socket nobody
 * listens on: a killed daemon's), 1: yes, or a negative errno. */
static int ctl_sock_live(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISSOCK(st.st_mode))
		return 0;
	ret = ctl_sock_addr(&sa, path);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		ret = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else if (errno == EAGAIN || errno == EINPROGRESS) /* a full backlog: alive */
		ret = 1;
	else
		ret = -errno;
	close(fd);
	return ret;
}

/* Move the socket listening on @tmp to @path once no server answers there. */
static int ctl_sock_claim(const char *tmp, const char *path, char *why, size_t whylen)
{
	for (int i = 0;; i++) {
		int live = ctl_sock_live(path);

		if (live < 0) {
			snprintf(why, whylen, "%s: %s", path, strerror(-live));
			return live;
		}
		if (!live) {
			if (!rename(tmp, path))
				return 0;
			snprintf(why, whylen, "rename to %s: %s", path, strerror(errno));
			return -errno;
		}
		if (i == CTL_BIND_TRIES) {
			snprintf(why, whylen, "%s: another server still answers there", path);
			return -EADDRINUSE;
		}
		usleep(CTL_BIND_WAIT_MS * 1000);
	}
}

/* Remember which file is ours, for ctl_sock_close. */
static int ctl_sock_remember(struct daemon_ctl *ctl, const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return -errno;
	ctl->path = strdup(path);
	if (!ctl->path)
		return -ENOMEM;
	ctl->sock_dev = st.st_dev;
	ctl->sock_ino = st.st_ino;
	return 0;
}

/**
 * ctl_sock_open - make the control socket's file and listen on it
 * @d: the daemon; d->ctl.dev_major and dev_minor are set
 * @why: one line saying what went wrong, on failure
 * @whylen: its size
 *
 * Sets d->ctl.listen_fd, path, sock_dev and sock_ino. May wait up to
 * CTL_BIND_TRIES * CTL_BIND_WAIT_MS for the daemon of a mount that just went away to
 * give up the name.
 *
 * Context: main thread, at start-up.
 * Return: 0 or a negative errno.
 */
int ctl_sock_open(struct daemon *d, char *why, size_t whylen)
{
	struct daemon_ctl *ctl = &d->ctl;
	char dir[PATH_MAX], path[PATH_MAX + 64], tmp[PATH_MAX + 96];
	int err, fd;

	err = ctl_sock_dir(dir, sizeof(dir), why, whylen);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/" CTL_SOCKET_NAME_FMT, dir, ctl->dev_major,
		 ctl->dev_minor);
	snprintf(tmp, sizeof(tmp), "%s/." CTL_SOCKET_NAME_FMT ".%ld", dir, ctl->dev_major,
		 ctl->dev_minor, (long)getpid());
	fd = ctl_sock_listen_tmp(tmp);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(-fd));
		return fd;
	}
	err = ctl_sock_claim(tmp, path, why, whylen);
	if (!err) {
		err = ctl_sock_remember(ctl, path);
		if (err)
			snprintf(why, whylen, "%s: %s", path, strerror(-err));
	}
	if (err) {
		unlink(tmp);
		close(fd);
		return err;
	}
	ctl->listen_fd = fd;
	return 0;
}

/**
 * ctl_sock_close - remove the control socket's file (if it is still ours) and close it
 * @d: the daemon; no thread accepts on the socket any more
 *
 * Context: main thread, at shutdown.
 */
void ctl_sock_close(struct daemon *d)
{
	struct daemon_ctl *ctl = &d->ctl;
	struct stat st;

	if (ctl->path && !lstat(ctl->path, &st) && st.st_dev == ctl->sock_dev &&
	    st.st_ino == ctl->sock_ino)
		unlink(ctl->path);
	free(ctl->path);
	ctl->path = NULL;
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	ctl->listen_fd = -1;
}
