/*
 * daemon/ctl_proto.h - the control protocol shared by the daemon (daemon/ctl_server.c,
 * daemon/ctl_sock.c) and its client (tools/ctl.c, foliofs-ctl), and the socket's
 * directory rules (daemon/ctl_dir.c, linked into both). Nothing else: the client does
 * not link the filesystem.
 *
 * Socket: unix stream, a file named CTL_SOCKET_NAME_FMT with the mount's device number
 * (major, minor of stat(MOUNTPOINT).st_dev) in a directory only the daemon's user can
 * write: CTL_RUN_DIR for a daemon run by root, "$XDG_RUNTIME_DIR/foliofs" (else
 * CTL_USER_DIR_FMT) for any other user; CTL_DIR_ENV, when set, names the directory
 * instead (for tests; the same checks apply). ctl_dir_check() is the rule both sides
 * apply to the directory.
 *
 * Conversation: the daemon speaks first, one line CTL_HELLO_FMT (its pid and the
 * mount's device number, for the client to check against SO_PEERCRED and st_dev).
 * Then the client sends one request line ("stats", "get KEY", "set KEY=VALUE",
 * "drop-caches", "reclaim SIZE", "sync", and the test-only "mark LABEL"). Answer:
 * lines of output, then "OK" or "ERR <exit code> <message>"; the daemon closes the
 * connection after it. The client sends with ctl_send_all().
 */
#ifndef FOLIO_DAEMON_CTL_PROTO_H
#define FOLIO_DAEMON_CTL_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CTL_RUN_DIR	    "/run/foliofs"
#define CTL_USER_DIR_FMT    "/run/user/%u/foliofs"
#define CTL_DIR_ENV	    "FOLIOFS_CTL_DIR"
#define CTL_SOCKET_NAME_FMT "%u:%u.sock"
#define CTL_HELLO_FMT	    "foliofs-ctl 1 pid=%ld dev=%u:%u\n"
#define CTL_HELLO_MAX	    128

/* foliofs-ctl's exit status when the socket, its directory or the server
 * answering it is not the mount's owner's (README.md, "foliofs-ctl"). */
#define CTL_EXIT_UNTRUSTED 3

int ctl_dir_check(const char *dir, uid_t uid, char *why, size_t whylen);
void ctl_unescape(char *s);

/* Send all of @buf on the socket (a request or an answer), retrying after
 * signals; never raises SIGPIPE. Returns 0, or -1 when the peer is gone. */
static inline int ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

#endif /* FOLIO_DAEMON_CTL_PROTO_H */
